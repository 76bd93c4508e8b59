import { execFileSync, spawn } from 'node:child_process';
import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, ROOT, startEmbedded } from '../../../test/support/processes.js';
import { freePort, type RedisServer, startRedisServer } from '../../../test/support/redis.js';

/**
 * The real `tokencast` bin, run as a child process (from the build) against an embedded edge on
 * a real redis-server: what it prints, what it exits with, and that its redis-cli lines work.
 */
const BIN = `${ROOT}packages/cli/bin/tokencast.js`;
const PREFIX = 'clitest';
let redis: RedisServer;
let edge: Proc;

beforeAll(async () => {
  redis = await startRedisServer();
  edge = await startEmbedded({ REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: PREFIX });
});

afterAll(async () => {
  await edge?.kill();
  await redis?.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', TOKENCAST_URL: edge.url, REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: PREFIX };
}

function tokencast(args: string[], env: Record<string, string> = {}, opts: { input?: string; onStdout?: (s: string, kill: () => void) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Run = { code: null, signal: null, stdout: '', stderr: '' };
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out.stdout += d.toString();
      opts.onStdout?.(out.stdout, () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (d: Buffer) => {
      out.stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      out.code = code;
      out.signal = signal;
      // 'exit' can precede the last 'data' events: wait for the pipes to close.
      let open = 2;
      const done = () => --open === 0 && resolve(out);
      if (child.stdout.closed) done();
      else child.stdout.once('close', done);
      if (child.stderr.closed) done();
      else child.stderr.once('close', done);
    });
    child.stdin.end(opts.input ?? '');
  });
}

const reference = (prompt: string, maxTokens?: number) =>
  mockText(
    parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: prompt }], ...(maxTokens ? { max_tokens: maxTokens } : {}) }, { maxTokensCap: 1e6, maxPromptChars: 1e6 }),
  ).text;

const unique = (len: number) => `cli ${Math.random().toString(36).slice(2)} [mock:len=${len}]`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape codes is the point
const ANSI = /\u001b\[/;

describe('help and usage', () => {
  it('prints help for the tool and every command, exit 0', async () => {
    const main = await tokencast(['--help']);
    expect(main.code).toBe(0);
    for (const cmd of ['chat', 'watch', 'ls', 'inspect', 'queue', 'bench']) {
      expect(main.stdout).toContain(`  ${cmd} `);
      const r = await tokencast([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toContain(`Usage: tokencast ${cmd}`);
      expect(r.stdout).toContain('Exit status');
    }
  });

  it('exits 2 on a bad command line', async () => {
    expect((await tokencast([])).code).toBe(2);
    expect((await tokencast(['frobnicate'])).code).toBe(2);
    const bad = await tokencast(['chat', '--bogus', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--bogus'/);
    expect((await tokencast(['ls', '--limit', 'many'])).code).toBe(2);
    expect((await tokencast(['watch'])).code).toBe(2);
    const noRedis = await tokencast(['ls'], { REDIS_URL: '' });
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toContain('REDIS_URL');
  });
});

describe('chat and watch', () => {
  it('chat streams the text to stdout and the stats to stderr, without colours when piped', async () => {
    const prompt = unique(40);
    const r = await tokencast(['chat', prompt]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${reference(prompt)}\n`);
    expect(r.stderr).toMatch(/TTFT \d+ ms · 40 tokens · [\d.]+ tokens\/s · total [\d.]+ m?s · stop/);
    expect(ANSI.test(r.stdout + r.stderr)).toBe(false);
  });

  it('chat --json prints one object; --max-tokens and stdin prompts work', async () => {
    const prompt = unique(50);
    const r = await tokencast(['chat', '--json', '--max-tokens', '12', '-'], {}, { input: `${prompt}\n` });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ status: 'completed', finish_reason: 'length', text: reference(prompt, 12), tokens: 12, usage: { completion_tokens: 12 } });
    expect(j.ttft_ms).toBeGreaterThan(0);
    expect(j.id).toMatch(/^gen_[a-z2-7]{26}$/);
  });

  it('chat exits 1 when the generation fails, 4 when the edge is unreachable', async () => {
    const failed = await tokencast(['chat', `${unique(30)} [mock:fail=4]`]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/error: \w+/);
    const away = await tokencast(['chat', 'hello'], { TOKENCAST_URL: `http://127.0.0.1:${await freePort()}` });
    expect(away.code).toBe(4);
    expect(away.stderr).toMatch(/cannot reach the edge/);
  });

  it('watch follows from any offset; --json gives one line per event', async () => {
    const prompt = unique(60);
    const chat = JSON.parse((await tokencast(['chat', '--json', prompt])).stdout) as { id: string };
    const all = await tokencast(['watch', '--json', chat.id]);
    expect(all.code).toBe(0);
    const events = all.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; offset: number; text?: string });
    const tokens = events.filter((e) => e.type === 'token');
    expect(tokens.map((e) => e.text).join('')).toBe(reference(prompt));
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'completed' });
    const from = await tokencast(['watch', chat.id, '--from', '7']);
    expect(from.code).toBe(0);
    expect(from.stdout).toBe(
      `${tokens
        .slice(7)
        .map((e) => e.text)
        .join('')}\n`,
    );
    expect((await tokencast(['watch', 'gen_aaaaaaaaaaaaaaaaaaaaaaaaaa'])).code).toBe(3);
  });

  it('Ctrl-C stops watching (exit 130) and says how to pick the generation up again', async () => {
    const r = await tokencast(['chat', unique(5_000)], {}, { onStdout: (s, kill) => s.length > 50 && kill() });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/tokencast watch gen_[a-z2-7]{26} --from \d+/);
  });
});

describe('operator commands (Redis)', () => {
  it('ls lists recent generations with status, tokens and TTFT; --active only live ones', async () => {
    const done = JSON.parse((await tokencast(['chat', '--json', unique(20)])).stdout) as { id: string };
    const rows = JSON.parse((await tokencast(['ls', '--json', '-n', '50'])).stdout) as { id: string; status: string; tokens: number; ttft_ms: number }[];
    expect(rows.find((r) => r.id === done.id)).toMatchObject({ status: 'completed', model: 'mock', tokens: 20 });
    expect(rows.find((r) => r.id === done.id)?.ttft_ms).toBeGreaterThan(0);
    const table = await tokencast(['ls']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+MODEL\s+AGE\s+TOKENS\s+TTFT/);
    expect(table.stdout).toContain(done.id);

    // A long generation, watched by nobody, is active until cancelled.
    const { id } = (await (
      await fetch(`${edge.url}/v1/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: unique(100_000) }] }),
      })
    ).json()) as { id: string };
    const active = JSON.parse((await tokencast(['ls', '--active', '--json'])).stdout) as { id: string; status: string }[];
    expect(active.map((r) => r.id)).toContain(id);
    expect(active.every((r) => r.status === 'queued' || r.status === 'running')).toBe(true);
    await fetch(`${edge.url}/v1/generations/${id}/cancel`, { method: 'POST' });
  });

  it('inspect shows metadata and timings, and redis-cli lines that really show the data', async () => {
    const prompt = unique(30);
    const { id } = JSON.parse((await tokencast(['chat', '--json', prompt])).stdout) as { id: string };
    const j = JSON.parse((await tokencast(['inspect', '--json', id])).stdout) as {
      generation: { status: string; tokens: number; last_offset: number; timings: { ttft_ms: number } };
      redis: { stream_length: number; keys: { meta: string } };
      prompt: string;
      commands: string[];
    };
    expect(j.generation).toMatchObject({ status: 'completed', tokens: 30 });
    expect(j.generation.timings.ttft_ms).toBeGreaterThan(0);
    expect(j.redis.stream_length).toBe(j.generation.last_offset);
    expect(j.redis.keys.meta).toBe(`${PREFIX}:{${id}}:meta`);
    expect(j.prompt).toBe(prompt);
    const human = await tokencast(['inspect', id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/TTFT\s+\d+ ms/);
    expect(human.stdout).toContain(`HGETALL '${PREFIX}:{${id}}:meta'`);
    // Paste the printed commands into a shell, as an operator would.
    const hgetall = j.commands.find((c) => c.includes('HGETALL')) as string;
    const xlen = j.commands.find((c) => c.includes('XLEN')) as string;
    const shell = (cmd: string) => execFileSync('sh', ['-c', cmd], { env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url }, encoding: 'utf8' });
    expect(shell(hgetall)).toContain('completed');
    expect(Number(shell(xlen).trim())).toBe(j.generation.last_offset);
    // Without Redis it asks the edge; unknown and malformed ids are both "not found".
    const viaEdge = JSON.parse((await tokencast(['inspect', '--json', id], { REDIS_URL: '' })).stdout) as { generation: { tokens: number }; redis: null };
    expect(viaEdge).toMatchObject({ generation: { tokens: 30 }, redis: null });
    expect((await tokencast(['inspect', 'gen_aaaaaaaaaaaaaaaaaaaaaaaaaa'])).code).toBe(3);
    expect((await tokencast(['inspect', '../../etc'], { REDIS_URL: '' })).code).toBe(3);
  });

  it('queue shows depth, pending and the consumers with idle times', async () => {
    const j = JSON.parse((await tokencast(['queue', '--json'])).stdout) as { waiting: number; pending: number; dead: number; consumers: { name: string; idleMs: number }[] };
    expect(j.waiting).toBe(0);
    expect(j.consumers.length).toBeGreaterThanOrEqual(1);
    expect(j.consumers[0]?.idleMs).toBeGreaterThanOrEqual(0);
    const human = await tokencast(['queue']);
    expect(human.stdout).toMatch(/waiting\s+0/);
    expect(human.stdout).toMatch(/CONSUMER\s+PENDING\s+IDLE/);
    const away = await tokencast(['queue'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(away.code).toBe(4);
    expect(away.stderr).toMatch(/cannot reach Redis.*ECONNREFUSED/);
  });

  it('colours only when asked for off a TTY, and never with NO_COLOR or --no-color', async () => {
    expect(ANSI.test((await tokencast(['ls'], { FORCE_COLOR: '1' })).stdout)).toBe(true);
    expect(ANSI.test((await tokencast(['ls'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout)).toBe(false);
    expect(ANSI.test((await tokencast(['ls', '--no-color'], { FORCE_COLOR: '1' })).stdout)).toBe(false);
    expect(ANSI.test((await tokencast(['ls'])).stdout)).toBe(false);
  });

  it('bench runs a small load and reports it', async () => {
    const r = await tokencast(['bench', '--json', '-n', '6', '-c', '3', '--max-tokens', '10']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ requests: 6, completed: 6, failed: 0, tokens: 60 });
  });
});
