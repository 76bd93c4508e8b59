import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitUntil } from './sys.js';

/** The harness's own redis-server on a free port: never the machine's shared one. */
export interface BenchRedis {
  url: string;
  pid: number;
  /** A plain connection for INFO. */
  admin: Redis;
  /** Every node (one for a single Redis; each master of a cluster), for INFO summed over them. */
  nodes: { admin: Redis; pid: number }[];
  /** A Redis Cluster (REDIS_URL lists its nodes). */
  cluster: boolean;
  /**
   * What Redis itself said about clients it dropped (output buffer limits, maxclients):
   * distinct messages with how often each came, so a peer that lost its connection shows why.
   */
  notes(): Record<string, number>;
  stop(): Promise<void>;
}

export async function startRedis(maxClients: number): Promise<BenchRedis> {
  let bin: string;
  try {
    bin = execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('the benchmarks need redis-server on PATH (apt-get install -y redis-server)');
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-bench-redis-'));
  const logfile = join(dir, 'redis.log');
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', logfile, '--save', '', '--appendonly', 'no', '--maxclients', String(maxClients)],
    {
      stdio: 'ignore',
    },
  );
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => {});
  await waitUntil(
    'redis-server',
    async () => {
      try {
        if (admin.status !== 'ready') await admin.connect();
        return (await admin.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    10_000,
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    admin,
    nodes: [{ admin, pid: child.pid ?? 0 }],
    cluster: false,
    notes() {
      const out: Record<string, number> = {};
      let log = '';
      try {
        log = readFileSync(logfile, 'utf8');
      } catch {}
      for (const line of log.split('\n')) {
        if (!/output buffer|max number of clients|OOM|closed for/i.test(line)) continue;
        // Drop the timestamp and the per-client details: count messages of one kind together.
        const text = line.replace(/^\d+:\w \d+ \w+ \d+ [\d:.]+ [*#.-] /, '');
        const client = /^Client id=.* sub=(\d+) .* cmd=(\S+) .*? ((?:scheduled to be )?closed .*)$/.exec(text);
        const msg = client ? `a client (last command ${client[2]}, ${client[1]} subscriptions) ${client[3]}` : text;
        out[msg] = (out[msg] ?? 0) + 1;
      }
      return out;
    },
    async stop() {
      admin.disconnect();
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls per command name (INFO commandstats), e.g. { xread: 120, evalsha: 40 }. */
export async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

/** µs Redis spent inside each command (INFO commandstats usec; scripts' inner commands included in EVALSHA's). */
export async function commandUsec(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=\d+,usec=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

export function callsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  // The INFO that took the second snapshot is not the system under test's.
  if (out.info) out.info -= 1;
  return out;
}

/** Redis's own CPU seconds (INFO cpu: used_cpu_user + used_cpu_sys). */
export async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const user = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? Number.NaN);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? Number.NaN);
  return user + sys;
}

/** Calls per command name summed over every node (for a cluster, each INFO is one call on each). */
export async function nodeCalls(r: BenchRedis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of r.nodes) for (const [k, v] of Object.entries(await commandCalls(n.admin))) out[k] = (out[k] ?? 0) + v;
  return out;
}
