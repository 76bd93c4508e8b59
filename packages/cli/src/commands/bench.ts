import type { TokencastClient } from '@tokencast/client';
import { type Ctx, EXIT, GLOBAL_HELP, intOption, type Options, printJson } from '../context.js';
import { duration, table } from '../format.js';

export const benchOptions: Options = {
  requests: { type: 'string', short: 'n' },
  concurrency: { type: 'string', short: 'c' },
  model: { type: 'string', short: 'm' },
  'max-tokens': { type: 'string' },
  prompt: { type: 'string' },
};

export const benchHelp = `Usage: tokencast bench [options]

A quick load run from this machine: N generations, C at a time, each streamed to its end.
Reports TTFT and per-stream tokens/s percentiles and the aggregate token rate. For real
benchmarks (many viewers, peers side by side) see bench/.

Options:
  -n, --requests N      generations (default 20)
  -c, --concurrency C   at once (default 4)
  -m, --model NAME      model (default mock)
  --max-tokens N        per generation (default 64)
  --prompt TEXT         prompt (default: a different one each time)

${GLOBAL_HELP}

Exit status: 0 all completed, 1 some failed, 2 usage, 4 edge unreachable.`;

interface One {
  ok: boolean;
  ttftMs: number | null;
  tokens: number;
  tokensPerSecond: number | null;
}

async function one(client: TokencastClient, model: string, prompt: string, maxTokens: number, signal: AbortSignal): Promise<One> {
  const t0 = performance.now();
  let first: number | null = null;
  let last = t0;
  let events = 0;
  for await (const ev of client.stream({ model, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens }, { signal })) {
    if (ev.type === 'token') {
      first ??= performance.now();
      last = performance.now();
      events++;
    } else {
      const tokens = ev.type === 'done' ? (ev.usage?.completion_tokens ?? events) : events;
      const span = first === null ? 0 : last - first;
      return { ok: ev.type === 'done', ttftMs: first === null ? null : first - t0, tokens, tokensPerSecond: span > 0 && tokens > 1 ? (tokens - 1) / (span / 1_000) : null };
    }
  }
  return { ok: false, ttftMs: null, tokens: events, tokensPerSecond: null };
}

function pct(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

export async function bench(ctx: Ctx): Promise<number> {
  const n = intOption(ctx.values, 'requests', 20, 1);
  const c = intOption(ctx.values, 'concurrency', 4, 1);
  const maxTokens = intOption(ctx.values, 'max-tokens', 64, 1);
  const model = typeof ctx.values.model === 'string' ? ctx.values.model : 'mock';
  const client = ctx.client();
  const results: One[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const prompt = typeof ctx.values.prompt === 'string' ? ctx.values.prompt : `bench ${Date.now()} ${i}`;
      results.push(
        await one(client, model, prompt, maxTokens, ctx.signal).catch((err: unknown): One => {
          if (ctx.signal.aborted) throw err;
          return { ok: false, ttftMs: null, tokens: 0, tokensPerSecond: null };
        }),
      );
      if (!ctx.json && process.stderr.isTTY) ctx.stderr(ctx.err.dim(`\r${results.length}/${n}`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
  const wallMs = performance.now() - t0;
  if (!ctx.json && process.stderr.isTTY) ctx.stderr('\r\u001b[K');
  const ok = results.filter((r) => r.ok);
  const ttft = ok.map((r) => r.ttftMs).filter((x): x is number => x !== null);
  const tps = ok.map((r) => r.tokensPerSecond).filter((x): x is number => x !== null);
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  const summary = {
    requests: n,
    concurrency: c,
    completed: ok.length,
    failed: n - ok.length,
    wall_ms: Math.round(wallMs),
    tokens,
    aggregate_tokens_per_second: Math.round((tokens / (wallMs / 1_000)) * 10) / 10,
    ttft_ms: { p50: pct(ttft, 0.5), p95: pct(ttft, 0.95), max: pct(ttft, 1) },
    stream_tokens_per_second: { p50: pct(tps, 0.5), p5: pct(tps, 0.05) },
  };
  if (ctx.json) printJson(ctx, summary);
  else {
    const s = ctx.out;
    const r1 = (x: number | null) => (x === null ? '-' : String(Math.round(x * 10) / 10));
    ctx.stdout(
      `${table([
        [s.dim('generations'), `${summary.completed}/${n} completed${summary.failed ? s.red(` · ${summary.failed} failed`) : ''} · concurrency ${c} · ${duration(wallMs)}`],
        [s.dim('TTFT'), `p50 ${duration(summary.ttft_ms.p50)} · p95 ${duration(summary.ttft_ms.p95)} · max ${duration(summary.ttft_ms.max)}`],
        [s.dim('per stream'), `p50 ${r1(summary.stream_tokens_per_second.p50)} tokens/s · p5 ${r1(summary.stream_tokens_per_second.p5)} tokens/s`],
        [s.dim('aggregate'), `${tokens} tokens · ${s.bold(String(summary.aggregate_tokens_per_second))} tokens/s`],
      ])}\n`,
    );
  }
  return summary.failed ? EXIT.failed : EXIT.ok;
}
