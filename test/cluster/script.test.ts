import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/nginx.js';
import { readSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

/** `npm run cluster`: starts the topology, serves through nginx, and leaves nothing behind on Ctrl-C. */
const ROOT = repoRoot();

function listening(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('npm run cluster', () => {
  it('prints the endpoint, serves a stream through nginx, and tears everything down on SIGINT', async () => {
    // What `npm run cluster` does before starting: compile the script (a no-op when up to date).
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'dist', 'scripts', 'cluster.js'), '--quiet'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', EDGES: '2', PRODUCERS: '1', MOCK_TOKENS_PER_SECOND: '200' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the endpoint', () => out.includes('ENDPOINT ') || child.exitCode !== null, 30_000);
      const url = /ENDPOINT (\S+)/.exec(out)?.[1];
      expect(url, out).toBeDefined();
      const addrs = [...out.matchAll(/^\s+(?:edge-\d+|nginx)\s+http:\/\/(\S+)/gm), ...out.matchAll(/^\s+redis\s+redis:\/\/(\S+)/gm)].map((m) => m[1] as string);
      expect(addrs).toHaveLength(4); // nginx, 2 edges, redis

      const r = await readSse(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock', stream: true, messages: [{ role: 'user', content: 'hello [mock:len=12]' }] }),
      });
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.headers.get('x-tokencast-edge')).toMatch(/^127\.0\.0\.1:\d+$/);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const a of addrs) expect(await listening(a), `${a} still listening`).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});
