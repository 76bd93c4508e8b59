import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../bench/src/sys.js';

/**
 * A real Redis for a test suite, never a mock. In order of preference:
 *   1. REDIS_URL from the environment (shared: each suite gets its own key prefix),
 *   2. a container from testcontainers when a Docker engine answers,
 *   3. a redis-server process started here on a free port.
 * Suites that must kill or restart Redis use startRedisServer() directly.
 */
export interface TestRedis {
  url: string;
  /** Unique key prefix for this suite, so suites sharing one Redis never see each other. */
  prefix: string;
  stop(): Promise<void>;
}

/** A port nothing listens on now (the bench's, bench/src/sys.ts: one implementation). */
export { freePort };

function uniquePrefix(): string {
  return `t${process.pid}${Math.random().toString(36).slice(2, 8)}`;
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 3_000 });
    return true;
  } catch {
    return false;
  }
}

export async function useRedis(): Promise<TestRedis> {
  const prefix = uniquePrefix();
  if (process.env.REDIS_URL) {
    return { url: process.env.REDIS_URL, prefix, stop: async () => {} };
  }
  if (dockerAnswers()) {
    const { GenericContainer } = await import('testcontainers');
    const c = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    return { url: `redis://${c.getHost()}:${c.getMappedPort(6379)}`, prefix, stop: async () => void (await c.stop()) };
  }
  const server = await startRedisServer();
  return { url: server.url, prefix, stop: () => server.stop() };
}

export interface RedisServerOptions {
  /** Keep data across restart() with an append-only file (fsync every second). */
  appendOnly?: boolean;
  /** Extra `--name value` arguments. */
  args?: string[];
  port?: number;
}

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILL the server (nothing is flushed but what AOF already wrote). */
  kill(): Promise<void>;
  /** Start it again on the same port and data directory. */
  start(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** A plain client for assertions and fault injection; closed by stop(). */
  client(): Redis;
}

function redisServerBinary(): string {
  try {
    return execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('No Redis for the tests: set REDIS_URL, start a Docker engine, or install redis-server (apt-get install -y redis-server).');
  }
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = redisServerBinary();
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'tokencast-redis-'));
  let proc: ChildProcess | null = null;
  const clients: Redis[] = [];
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.appendOnly ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    ...(opts.args ?? []),
  ];

  const start = async () => {
    proc = spawn(bin, args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        // With AOF, wait until the data set is loaded.
        if ((await probe.ping()) === 'PONG') {
          probe.disconnect();
          return;
        }
      } catch {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    client() {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}
