import { type GenerationStream, MessageAccumulator, type StreamEvent, type Usage } from '@tokencast/client';
import { type Ctx, EXIT, printJson } from '../context.js';

/** What the terminal saw of one stream, measured here (client side). */
export interface Watched {
  /** The answer's text (reasoning, tool calls and refusals are in `message`). */
  text: string;
  /** Everything the stream carried, reassembled. */
  message: MessageAccumulator;
  end: StreamEvent | null;
  /** Output events that carry model tokens (all but a tool call's start). */
  tokenEvents: number;
  /** performance.now() of the first and last output event; null before the first. */
  firstAt: number | null;
  lastAt: number | null;
  lastOffset: number;
  /** Something was printed on stdout, and its last line has no newline yet. */
  stdoutOpen: boolean;
  /** Anything was printed on stdout. */
  printed: boolean;
}

type Segment = 'text' | 'reasoning' | 'tool' | 'refusal' | null;

/**
 * Print a stream as it arrives: the answer's text on stdout; reasoning dimmed on stderr (so a
 * pipe gets the answer alone); each tool call on stdout as one line, `→ name(id) ` followed by its
 * arguments as they stream; a refusal on stdout after "refusal: ". With --json, one JSON line per
 * event instead. Reconnects are dim notes on stderr. Returns when the generation ends.
 */
export async function printStream(ctx: Ctx, stream: GenerationStream, jsonEvents: boolean): Promise<Watched> {
  const w: Watched = {
    text: '',
    message: new MessageAccumulator(),
    end: null,
    tokenEvents: 0,
    firstAt: null,
    lastAt: null,
    lastOffset: stream.offset,
    stdoutOpen: false,
    printed: false,
  };
  const show = !jsonEvents && !ctx.json;
  let open: Segment = null;
  let reasoningOpen = false;
  const out = (s: string) => {
    if (s === '') return;
    ctx.stdout(s);
    w.printed = true;
    w.stdoutOpen = !s.endsWith('\n');
  };
  // A new kind of output starts on its own line.
  const begin = (seg: Segment) => {
    if (seg === open) return;
    if (reasoningOpen && seg !== 'reasoning') {
      ctx.stderr('\n');
      reasoningOpen = false;
    }
    if (w.stdoutOpen && seg !== 'reasoning') out('\n');
    open = seg;
  };
  for await (const ev of stream) {
    if (jsonEvents) printJson(ctx, ev);
    w.message.add(ev);
    if (ev.type === 'done' || ev.type === 'error') {
      w.end = ev;
      continue;
    }
    const t = performance.now();
    w.firstAt ??= t;
    w.lastAt = t;
    w.lastOffset = ev.offset;
    if (ev.type !== 'tool_call') w.tokenEvents++;
    if (ev.type === 'token') w.text += ev.text;
    if (!show) continue;
    switch (ev.type) {
      case 'token':
        begin('text');
        out(ev.text);
        break;
      case 'reasoning':
        if (ev.text === '') break;
        if (!reasoningOpen) ctx.stderr(ctx.err.dim('thinking: '));
        begin('reasoning');
        reasoningOpen = true;
        ctx.stderr(ctx.err.dim(ev.text));
        break;
      case 'tool_call':
        // Every call on its own line, even right after another one.
        open = null;
        begin('tool');
        out(`${ctx.out.cyan(`→ ${ev.name}`)}${ctx.out.dim(`(${ev.id})`)} `);
        break;
      case 'tool_args':
        out(ev.args);
        break;
      case 'refusal':
        if (open !== 'refusal') {
          begin('refusal');
          out(ctx.out.yellow('refusal: '));
        }
        out(ev.text);
        break;
    }
  }
  if (reasoningOpen) ctx.stderr('\n');
  return w;
}

/** The non-text parts of the answer for --json output (snake_case, as the rest of it). */
export function answerJson(w: Watched): Record<string, unknown> {
  const m = w.message.message();
  return {
    reasoning: m.reasoning === '' ? null : m.reasoning,
    reasoning_signature: m.reasoningSignature,
    refusal: m.refusal,
    tool_calls: m.toolCalls.map((c) => ({ index: c.index, id: c.id, name: c.name, arguments: c.arguments, input: c.input ?? null })),
  };
}

export function onReconnectNote(ctx: Ctx) {
  return (i: { attempt: number; delayMs: number; offset: number; reason: unknown }) => {
    const why = i.reason instanceof Error ? i.reason.message : String(i.reason);
    ctx.stderr(ctx.err.dim(`\n[reconnecting after offset ${i.offset} in ${i.delayMs} ms (attempt ${i.attempt}): ${why}]\n`));
  };
}

/** Tokens per second between the first and the last token, from the token count. */
export function rate(tokens: number, w: Watched): number | null {
  if (w.firstAt === null || w.lastAt === null || tokens < 2 || w.lastAt <= w.firstAt) return null;
  return Math.round(((tokens - 1) / ((w.lastAt - w.firstAt) / 1_000)) * 10) / 10;
}

export function tokensOf(w: Watched): number {
  const usage: Usage | null = w.end?.type === 'done' ? w.end.usage : null;
  return usage?.completion_tokens ?? w.tokenEvents;
}

/** Exit code for how a stream ended. */
export function endCode(w: Watched): number {
  return w.end?.type === 'done' && w.end.status === 'completed' ? EXIT.ok : EXIT.failed;
}

/** One line on stderr for an end that is not a normal completion. */
export function endNote(ctx: Ctx, w: Watched): void {
  if (w.end?.type === 'error') ctx.stderr(`${ctx.err.red(`error: ${w.end.code}`)}: ${w.end.message}\n`);
  else if (w.end?.type === 'done' && w.end.status === 'cancelled') ctx.stderr(`${ctx.err.yellow('cancelled')}\n`);
}
