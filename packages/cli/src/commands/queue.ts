import { createRedisEngine } from '@tokencast/engine';
import { type Ctx, EXIT, GLOBAL_HELP, type Options, printJson } from '../context.js';
import { duration, table } from '../format.js';
import { openRedis, redisCli } from '../redis.js';

export const queueOptions: Options = {};

export const queueHelp = `Usage: tokencast queue [options]

The job queue as producers see it: jobs waiting, jobs pending (handed to a producer and not yet
acknowledged), dead-lettered jobs, and every consumer with its pending count and idle time.
A consumer idle for long with jobs pending is probably dead; its jobs are reclaimed.

${GLOBAL_HELP}

Exit status: 0 ok, 2 usage (no REDIS_URL), 4 Redis unreachable.`;

/** A consumer silent this long while holding jobs is shown as suspect, ms. */
const SUSPECT_IDLE_MS = 30_000;

export async function queue(ctx: Ctx): Promise<number> {
  // Our own connection first: it fails within seconds when Redis is away, the engine's would retry.
  const { redis, keys } = await openRedis(ctx, 'queue');
  const engine = createRedisEngine({ url: ctx.redisUrl as string, prefix: ctx.prefix, name: 'tokencast:cli', commandTimeoutMs: 5_000 });
  try {
    const [stats, dead] = await Promise.all([engine.queue.stats(), redis.xlen(keys.dead)]);
    if (ctx.json) {
      printJson(ctx, { queue: keys.queue, waiting: stats.waiting, pending: stats.pending, dead, consumers: stats.consumers });
      return EXIT.ok;
    }
    const s = ctx.out;
    const counts = table([
      [s.dim('waiting'), s.bold(String(stats.waiting)), s.dim('queued, not yet handed to a producer')],
      [s.dim('pending'), s.bold(String(stats.pending)), s.dim('handed to a producer, not yet acknowledged')],
      [s.dim('dead'), s.bold(dead > 0 ? s.red(String(dead)) : '0'), s.dim(`dead-lettered (${keys.dead})`)],
    ]);
    let out = `${s.bold(keys.queue)}\n${counts.replace(/^/gm, '  ')}\n\n`;
    if (stats.consumers.length === 0) {
      out += `${s.dim('no consumers: no producer has read this queue yet')}\n`;
    } else {
      const rows = stats.consumers
        .slice()
        .sort((a, b) => a.idleMs - b.idleMs)
        .map((c) => [c.name, String(c.pending), c.pending > 0 && c.idleMs > SUSPECT_IDLE_MS ? s.yellow(duration(c.idleMs)) : duration(c.idleMs)]);
      out += `${table([['CONSUMER', 'PENDING', 'IDLE'].map((h) => s.bold(h)), ...rows])}\n`;
    }
    out += `\n${s.dim(redisCli(ctx, 'XINFO', 'CONSUMERS', keys.queue, 'producers'))}\n`;
    ctx.stdout(out);
    return EXIT.ok;
  } finally {
    await engine.close();
    redis.disconnect();
  }
}
