import { type Ctx, GLOBAL_HELP, intOption, type Options, UsageError } from '../context.js';
import { endCode, endNote, onReconnectNote, printStream, tokensOf } from './stream-print.js';

export const watchOptions: Options = {
  from: { type: 'string' },
  token: { type: 'string' },
};

export const watchHelp = `Usage: tokencast watch [options] <generation-id>

Follow a generation from any offset: replay what was written, then live, to the end. Reconnects
by itself (resuming after the last offset shown) when the connection or the edge drops.
Reasoning streams dimmed on stderr; tool calls print on stdout with their arguments as they arrive.

Options:
  --from N     start after offset N (default 0: from the beginning)
  --token T    a read token for this generation (from a share link), instead of an API key
  --json       one JSON line per event ({"type":"token","offset":…,"text":…}; reasoning, tool_call,
               tool_args, refusal; then done or error)

${GLOBAL_HELP}

Exit status: 0 completed, 1 failed or cancelled, 2 usage, 3 no such generation, 4 edge unreachable, 130 interrupted.`;

export async function watch(ctx: Ctx): Promise<number> {
  const [id, ...rest] = ctx.positionals;
  if (!id || rest.length) throw new UsageError('watch takes exactly one generation id');
  const from = intOption(ctx.values, 'from', 0);
  const token = typeof ctx.values.token === 'string' ? ctx.values.token : undefined;
  const stream = ctx.client().stream(id, { from, signal: ctx.signal, onReconnect: onReconnectNote(ctx), ...(token ? { readToken: token } : {}) });
  const w = await printStream(ctx, stream, ctx.json);
  if (!ctx.json) {
    if (w.stdoutOpen) ctx.stdout('\n');
    endNote(ctx, w);
    const finish = w.end?.type === 'done' ? ` · ${w.end.finishReason ?? w.end.status}` : '';
    ctx.stderr(ctx.err.dim(`${id} · offsets ${from + 1}–${w.lastOffset} · ${tokensOf(w)} tokens${finish}\n`));
  }
  return endCode(w);
}
