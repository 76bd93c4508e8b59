import type { GenerationStream, StreamEvent, Usage } from '@tokencast/client';
import { type Ctx, EXIT, printJson } from '../context.js';

/** What the terminal saw of one stream, measured here (client side). */
export interface Watched {
  text: string;
  end: StreamEvent | null;
  tokenEvents: number;
  /** performance.now() of the first and last token event; null before the first. */
  firstAt: number | null;
  lastAt: number | null;
  lastOffset: number;
}

/**
 * Print a stream as it arrives: text on stdout (or one JSON line per event with --json),
 * reconnects as dim notes on stderr. Returns when the generation ends.
 */
export async function printStream(ctx: Ctx, stream: GenerationStream, jsonEvents: boolean): Promise<Watched> {
  const w: Watched = { text: '', end: null, tokenEvents: 0, firstAt: null, lastAt: null, lastOffset: stream.offset };
  for await (const ev of stream) {
    if (jsonEvents) printJson(ctx, ev);
    if (ev.type === 'token') {
      const t = performance.now();
      w.firstAt ??= t;
      w.lastAt = t;
      w.tokenEvents++;
      w.lastOffset = ev.offset;
      w.text += ev.text;
      if (!jsonEvents && !ctx.json) ctx.stdout(ev.text);
    } else {
      w.end = ev;
    }
  }
  return w;
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
