import { hashToMeta } from '@tokencast/engine';
import { type GenerationMeta, isTerminalStatus } from '@tokencast/protocol';
import { type Ctx, EXIT, GLOBAL_HELP, intOption, type Options, printJson } from '../context.js';
import { age, duration, statusColor, table } from '../format.js';
import { openRedis } from '../redis.js';

export const lsOptions: Options = {
  limit: { type: 'string', short: 'n' },
  active: { type: 'boolean', short: 'a', default: false },
};

export const lsHelp = `Usage: tokencast ls [options]

Recent generations, newest first, from Redis (the <prefix>:recent index and each generation's
meta hash): status, model, age, tokens, time to first token.

Options:
  -n, --limit N    how many (default 20)
  -a, --active     only queued and running ones
  --json           one JSON array of the rows

${GLOBAL_HELP}

Exit status: 0 ok, 2 usage (no REDIS_URL), 4 Redis unreachable.`;

/** How far back --active looks for generations still going. */
const ACTIVE_SCAN = 2_000;

export interface LsRow {
  id: string;
  status: string;
  model: string;
  created_at: number;
  age_ms: number;
  tokens: number;
  ttft_ms: number | null;
  producer: string | null;
}

export async function ls(ctx: Ctx): Promise<number> {
  const limit = intOption(ctx.values, 'limit', 20, 1);
  const active = ctx.values.active === true;
  const { redis, keys } = await openRedis(ctx, 'ls');
  try {
    const ids = await redis.zrevrange(keys.recent, 0, (active ? ACTIVE_SCAN : limit) - 1);
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hgetall(keys.meta(id));
    const replies = ids.length ? ((await pipe.exec()) ?? []) : [];
    const now = Date.now();
    const rows: LsRow[] = [];
    for (const [err, h] of replies) {
      // An id whose meta expired (GENERATION_TTL_SECONDS) is no longer a generation.
      const meta = err ? null : hashToMeta(h as Record<string, string>);
      if (!meta || (active && isTerminalStatus(meta.status))) continue;
      rows.push(row(meta, now));
      if (rows.length >= limit) break;
    }
    if (ctx.json) {
      printJson(ctx, rows);
      return EXIT.ok;
    }
    if (rows.length === 0) {
      ctx.stderr(`no ${active ? 'active ' : ''}generations under prefix "${ctx.prefix}"\n`);
      return EXIT.ok;
    }
    const s = ctx.out;
    const head = ['ID', 'STATUS', 'MODEL', 'AGE', 'TOKENS', 'TTFT'].map((h) => s.bold(h));
    ctx.stdout(`${table([head, ...rows.map((r) => [r.id, statusColor(s, r.status), r.model, age(r.created_at, now), String(r.tokens), duration(r.ttft_ms)])])}\n`);
    return EXIT.ok;
  } finally {
    redis.disconnect();
  }
}

function row(m: GenerationMeta, now: number): LsRow {
  return {
    id: m.id,
    status: m.status,
    model: m.model,
    created_at: m.createdAt,
    age_ms: now - m.createdAt,
    tokens: m.tokens,
    ttft_ms: m.firstTokenAt ? m.firstTokenAt - m.createdAt : null,
    producer: m.producer || null,
  };
}
