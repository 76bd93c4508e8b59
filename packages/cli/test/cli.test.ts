import { execFileSync, spawn } from 'node:child_process';
import { mockOutput, mockText } from '@tokencast/producer';
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
  }, 90_000);

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
    // TTFT prints as "850 ms" or, on a loaded machine, "1.09 s".
    expect(r.stderr).toMatch(/TTFT [\d.]+ m?s · 40 tokens · [\d.]+ tokens\/s · total [\d.]+ m?s · stop/);
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

describe('tool calls and reasoning', () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
          required: ['city'],
        },
      },
    },
  ];
  const refOf = (prompt: string) => {
    const out = mockOutput(
      parseChatRequest({ model: 'mock-reasoning', messages: [{ role: 'user', content: prompt }], tools, tool_choice: 'required' }, { maxTokensCap: 1e6, maxPromptChars: 1e6 }),
    );
    const r = out.parts.find((p) => p.type === 'reasoning');
    const call = out.parts.find((p) => p.type === 'tool_call');
    if (r?.type !== 'reasoning' || call?.type !== 'tool_call') throw new Error('the mock should reason, then call the tool');
    return { reasoning: r.text, signature: r.signature, call };
  };

  it('chat prints the reasoning on stderr and the tool call with its arguments on stdout; --json has them parsed', async () => {
    const prompt = `weather ${Math.random().toString(36).slice(2)}`;
    const ref = refOf(prompt);
    const args = ['chat', '--model', 'mock-reasoning', '--tools', JSON.stringify(tools), '--tool-choice', 'required', prompt];
    const r = await tokencast(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`→ get_weather(${ref.call.id}) ${ref.call.arguments}\n`);
    expect(r.stderr).toContain(`thinking: ${ref.reasoning}\n`);
    expect(r.stderr).toMatch(/ · tool_calls/);
    expect(ANSI.test(r.stdout + r.stderr)).toBe(false);
    // With colours (a terminal), the reasoning is dimmed and the call's name stands out.
    const coloured = await tokencast(args, { FORCE_COLOR: '1' });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the dim escape codes are what it strips
    const dimOff = /\u001b\[(2|22)m/g;
    expect(coloured.stderr.startsWith('\u001b[2mthinking: \u001b[22m\u001b[2m')).toBe(true);
    expect(coloured.stderr.replace(dimOff, '')).toContain(`thinking: ${ref.reasoning}\n`);
    expect(coloured.stdout).toContain(`\u001b[36m→ get_weather\u001b[39m`);
    const j = JSON.parse((await tokencast(['chat', '--json', ...args.slice(1)])).stdout) as Record<string, unknown>;
    expect(j).toMatchObject({
      status: 'completed',
      finish_reason: 'tool_calls',
      text: '',
      reasoning: ref.reasoning,
      reasoning_signature: ref.signature,
      refusal: null,
      tool_calls: [{ index: 0, id: ref.call.id, name: 'get_weather', arguments: ref.call.arguments, input: JSON.parse(ref.call.arguments) }],
    });
  });

  it('watch replays the same; --json lines carry each piece; --from resumes inside the arguments', async () => {
    const prompt = `watch weather ${Math.random().toString(36).slice(2)}`;
    const ref = refOf(prompt);
    const chat = JSON.parse((await tokencast(['chat', '--json', '-m', 'mock-reasoning', '--tools', JSON.stringify(tools), '--tool-choice', 'get_weather', prompt])).stdout) as {
      id: string;
    };
    const human = await tokencast(['watch', chat.id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(`→ get_weather(${ref.call.id}) ${ref.call.arguments}\n`);
    expect(human.stderr).toContain(`thinking: ${ref.reasoning}\n`);
    const lines = (await tokencast(['watch', '--json', chat.id])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; offset: number; text?: string; args?: string; name?: string; signature?: string });
    expect(lines.find((e) => e.type === 'tool_call')).toMatchObject({ name: 'get_weather', id: ref.call.id, index: 0 });
    expect(lines.find((e) => e.signature !== undefined)?.signature).toBe(ref.signature);
    const pieces = lines.filter((e) => e.type === 'tool_args');
    expect(pieces.map((e) => e.args).join('')).toBe(ref.call.arguments);
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    // Resume after the first piece: exactly the rest of the arguments.
    const first = pieces[0] as { offset: number; args: string };
    const rest = await tokencast(['watch', chat.id, '--from', String(first.offset)]);
    expect(rest.stdout).toBe(`${ref.call.arguments.slice(first.args.length)}\n`);
    expect(rest.stderr).not.toContain('thinking');
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
