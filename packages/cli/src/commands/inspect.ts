import { type Generation, HttpError } from '@tokencast/client';
import { fieldsToEvent, hashToMeta, type Keys } from '@tokencast/engine';
import { cursorAfter, describeGeneration, entryIdToOffset, type GenerationMeta, isGenerationId, promptText } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import { type Ctx, EXIT, GLOBAL_HELP, NotFound, type Options, printJson, UsageError } from '../context.js';
import { age, duration, statusColor, table } from '../format.js';
import { keysFor, openRedis, redisCli } from '../redis.js';

export const inspectOptions: Options = {};

export const inspectHelp = `Usage: tokencast inspect [options] <generation-id>

Everything about one generation: status, model, producer, timings (queue wait, TTFT, inter-token
latency, tokens/s), usage, error; and the redis-cli commands that show the same raw data.
Reads Redis directly when REDIS_URL (or --redis) is set, otherwise asks the edge.

${GLOBAL_HELP}

Exit status: 0 ok, 2 usage, 3 no such generation, 4 edge or Redis unreachable.`;

/** Events read to compute timings; the edge uses the same bound. */
const TIMING_EVENTS_LIMIT = 100_000;

interface RedisFacts {
  prefix: string;
  keys: { meta: string; events: string };
  stream_length: number;
  /** Seconds before the keys expire; -1: no expiry set; -2: the key is gone. */
  ttl_seconds: { meta: number; events: number };
}

export async function inspect(ctx: Ctx): Promise<number> {
  const [id, ...rest] = ctx.positionals;
  if (!id || rest.length) throw new UsageError('inspect takes exactly one generation id');
  // Malformed and unknown ids get the same answer, as at the edge.
  if (!isGenerationId(id)) throw new NotFound(`no generation ${id}`);
  let generation: Generation;
  let facts: RedisFacts | null = null;
  let prompt: string | null = null;
  if (ctx.redisUrl) {
    const { redis, keys } = await openRedis(ctx, 'inspect');
    try {
      const r = await fromRedis(redis, keys, id);
      generation = r.generation;
      facts = { prefix: ctx.prefix, ...r.facts };
      prompt = r.prompt;
    } finally {
      redis.disconnect();
    }
  } else {
    try {
      generation = await ctx.client().get(id, { signal: ctx.signal });
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) throw new NotFound(`no generation ${id}`);
      throw err;
    }
  }
  const k = keysFor(ctx.prefix);
  const commands = [
    redisCli(ctx, 'HGETALL', k.meta(id)),
    redisCli(ctx, 'XRANGE', k.events(id), '-', '+', 'COUNT', '5'),
    redisCli(ctx, 'XREVRANGE', k.events(id), '+', '-', 'COUNT', '1'),
    redisCli(ctx, 'XLEN', k.events(id)),
    redisCli(ctx, 'TTL', k.events(id)),
    redisCli(ctx, 'XREAD', 'BLOCK', '5000', 'STREAMS', k.events(id), cursorAfter(generation.last_offset)),
    redisCli(ctx, 'ZSCORE', k.recent, id),
  ];
  if (ctx.json) {
    printJson(ctx, { generation, prompt, redis: facts, commands });
    return EXIT.ok;
  }
  const s = ctx.out;
  const g = generation;
  const t = g.timings;
  const lines: string[][] = [
    ['model', `${g.model} (${g.kind})`],
    ['producer', g.producer ?? '-'],
    ['created', `${new Date(g.created_at).toISOString()} (${age(g.created_at)} ago)`],
    ['queue wait', duration(t.queue_ms)],
    ['TTFT', duration(t.ttft_ms)],
    ['total', duration(t.total_ms)],
    ['tokens', `${g.tokens} (last offset ${g.last_offset})`],
    ['inter-token', t.itl_mean_ms === null ? '-' : `mean ${duration(t.itl_mean_ms)} · p95 ${duration(t.itl_p95_ms)}`],
    ['tokens/s', t.tokens_per_second === null ? '-' : String(t.tokens_per_second)],
    ['finish', g.finish_reason ?? '-'],
    ['usage', g.usage ? `prompt ${g.usage.prompt_tokens} · completion ${g.usage.completion_tokens} · total ${g.usage.total_tokens}` : '-'],
  ];
  if (g.error) lines.push(['error', s.red(`${g.error.code}: ${g.error.message}`)]);
  if (prompt !== null) lines.push(['prompt', JSON.stringify(prompt.length > 100 ? `${prompt.slice(0, 100)}…` : prompt)]);
  let out = `${s.bold(g.id)}  ${statusColor(s, g.status)}\n${indent(table(lines.map(([a, b]) => [s.dim(a as string), b as string])))}\n`;
  if (facts) {
    out += `\n${s.bold('Redis')} ${s.dim(`(prefix ${facts.prefix})`)}\n`;
    out += `${indent(
      table([
        [facts.keys.meta, 'hash', ttl(facts.ttl_seconds.meta)],
        [facts.keys.events, 'stream', `${facts.stream_length} entries, ${ttl(facts.ttl_seconds.events)}`],
      ]),
    )}\n`;
  }
  out += `\n${s.bold('Raw data')}\n${indent(commands.join('\n'))}\n`;
  out += `${indent(s.dim(`curl -s ${ctx.edgeUrl}/v1/generations/${id}    curl -N ${ctx.edgeUrl}/v1/generations/${id}/events`))}\n`;
  ctx.stdout(out);
  return EXIT.ok;
}

function ttl(s: number): string {
  if (s === -1) return 'no expiry';
  if (s === -2) return 'gone';
  return `expires in ${duration(s * 1_000)}`;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

async function fromRedis(redis: Redis, keys: Keys, id: string): Promise<{ generation: Generation; facts: Omit<RedisFacts, 'prefix'>; prompt: string }> {
  const metaKey = keys.meta(id);
  const eventsKey = keys.events(id);
  const [h, entries, len, ttlMeta, ttlEvents] = await Promise.all([
    redis.hgetall(metaKey),
    redis.xrange(eventsKey, '-', '+', 'COUNT', TIMING_EVENTS_LIMIT),
    redis.xlen(eventsKey),
    redis.ttl(metaKey),
    redis.ttl(eventsKey),
  ]);
  let meta: GenerationMeta | null;
  try {
    meta = hashToMeta(h);
  } catch {
    meta = null;
  }
  if (!meta) throw new NotFound(`no generation ${id} under prefix "${keys.prefix}"`);
  const tokenMs: number[] = [];
  for (const [entryId, fields] of entries) {
    const ev = fieldsToEvent(entryIdToOffset(entryId), fields);
    if (ev && ev.kind !== 'end' && ev.kind !== 'tool_call') tokenMs.push(...ev.ms);
  }
  const generation: Generation = describeGeneration(meta, tokenMs);
  return {
    generation,
    facts: { keys: { meta: metaKey, events: eventsKey }, stream_length: len, ttl_seconds: { meta: ttlMeta, events: ttlEvents } },
    prompt: promptText(meta.request),
  };
}
