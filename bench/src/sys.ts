import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the kernel says about a process: CPU time used and resident memory. */
let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User + system CPU seconds the process has used so far (/proc/<pid>/stat, fields 14 and 15); NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return Number.NaN; // the process is gone
  }
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/**
 * The machine's CPU time so far, summed over its CPUs (/proc/stat's `cpu` line, in ticks): all of
 * it, and the part a hypervisor gave to other guests (steal). A virtual machine whose neighbours
 * take its CPUs measures every figure higher: two runs' steal says whether they are comparable.
 * null where /proc/stat is missing (not Linux).
 */
export function machineCpuTicks(): { total: number; steal: number } | null {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = /^cpu\s+(.*)$/m.exec(stat)?.[1];
  if (!line) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const f = line.trim().split(/\s+/).map(Number).slice(0, 8);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

/** Steal as a percentage of all CPU time between two machineCpuTicks readings; null when unknown. */
export function stealPct(before: ReturnType<typeof machineCpuTicks>, after: ReturnType<typeof machineCpuTicks>): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (100 * (after.steal - before.steal)) / (after.total - before.total);
}

/** Resident memory in bytes; NaN once the process is gone. */
export function rssBytes(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return Number.NaN;
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFilesLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? 1_048_576 : Number(m[1]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A server under test, started as its own process. */
export interface ServerProc {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  output(): string;
  /** Throws, with the end of its output, when the process has exited. */
  assertAlive(): void;
  stop(): Promise<void>;
}

/** `portVar`: the variable that names the port the process serves /healthz on (a producer: METRICS_PORT). */
export async function startServer(main: string, env: Record<string, string>, args: string[] = [], portVar = 'PORT'): Promise<ServerProc> {
  const port = await freePort();
  const child = spawn(process.execPath, [...args, main], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(
    `${main} to answer on ${url}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${main} exited with ${child.exitCode}:\n${out}`);
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    20_000,
  );
  return {
    url,
    port,
    pid: child.pid ?? 0,
    child,
    output: () => out,
    assertAlive() {
      if (child.exitCode === null && child.signalCode === null) return;
      // First line: the error that killed it; then the end of its output.
      const cause = out.split('\n').find((l) => /^\w*Error\b/.test(l)) ?? out.trim().split('\n').pop() ?? '';
      throw new Error(`server crashed (exit ${child.exitCode ?? child.signalCode}): ${cause}\n${out.slice(-3000)}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
