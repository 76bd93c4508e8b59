import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';

/**
 * How long a process may take to listen (or a producer to start). Node loads and compiles the
 * whole app first: 1–2 s on an idle box, over 15 s seen when the machine ran other suites beside
 * ours; the hooks that start processes allow 60 s.
 */
const START_LIMIT_MS = 40_000;

/**
 * Real tokencast processes for tests, started from the build (npm test builds first).
 * Each gets a free port and its own environment; logs are kept for assertions.
 */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EDGE_MAIN = `${ROOT}apps/edge/dist/main.js`;
export const PRODUCER_MAIN = `${ROOT}apps/producer/dist/main.js`;
/** `npm start`: an edge and a producer in one process (apps/embedded). */
export const EMBEDDED_MAIN = `${ROOT}apps/embedded/dist/main.js`;

export interface Proc {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything the process printed so far (JSON log lines). */
  logs(): string;
  /** Resolves with the logs once they contain `text` (stdout is a pipe: lines arrive a little late), or after ms. */
  waitForLog(text: string, ms?: number): Promise<string>;
  /** Send a signal and wait for the exit; resolves with the exit code (null when killed). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Settings that keep tests quick: short blocks and heartbeats, fast mock. */
export const FAST_ENV: Record<string, string> = {
  LOG_LEVEL: 'info',
  REDIS_BLOCK_MS: '1000',
  REDIS_WATCHDOG_MARGIN_MS: '1000',
  HEARTBEAT_MS: '2000',
  MOCK_TTFT_MS: '20',
  MOCK_TOKENS_PER_SECOND: '200',
};

export async function startProcess(main: string, env: Record<string, string>, args: string[] = [], opts: { waitForHttp?: boolean; nodeArgs?: string[] } = {}): Promise<Proc> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), main, ...args], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...FAST_ENV, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // 'close', not 'exit': it comes after the process's stdout and stderr are read to the end.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const proc: Proc = {
    url,
    port,
    pid: child.pid ?? 0,
    child,
    logs: () => out,
    async waitForLog(text: string, ms = 5_000) {
      const deadline = Date.now() + ms;
      while (!out.includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return out;
    },
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
  if (opts.waitForHttp !== false) {
    const deadline = Date.now() + START_LIMIT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening:\n${out}`);
      try {
        const res = await fetch(`${url}/healthz`);
        if (res.ok) break;
      } catch {}
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`process did not listen on ${port}:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return proc;
}

export function startEdge(env: Record<string, string>): Promise<Proc> {
  return startProcess(EDGE_MAIN, env);
}

export function startEmbedded(env: Record<string, string>): Promise<Proc> {
  return startProcess(EMBEDDED_MAIN, env);
}

/** A producer has no HTTP port; it is ready once it logs "producer started". */
export async function startProducer(env: Record<string, string>): Promise<Proc> {
  const p = await startProcess(PRODUCER_MAIN, env, [], { waitForHttp: false });
  const deadline = Date.now() + START_LIMIT_MS;
  while (!p.logs().includes('producer started')) {
    if (p.child.exitCode !== null) throw new Error(`producer exited with ${p.child.exitCode}:\n${p.logs()}`);
    if (Date.now() > deadline) throw new Error(`producer did not start:\n${p.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return p;
}
