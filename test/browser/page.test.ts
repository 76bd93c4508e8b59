import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockOutput, mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CutProxy } from '../../packages/client/test/support/cut-proxy.js';
import { EDGE_MAIN, type Proc, ROOT, startProcess, startProducer } from '../support/processes.js';
import { type RedisServer, startRedisServer } from '../support/redis.js';

/**
 * The live page in a real headless Chromium (Debian's, never a downloaded one), served by real
 * edge processes on a real redis-server with a real producer; a TCP proxy stands where nginx
 * would, so the test can drop every connection or swap the edge behind it mid-stream.
 */
const CHROMIUM = '/usr/bin/chromium';
const RESULTS = join(ROOT, 'test-results');
/** Another edge build to run (for instance one under development); default: the repo's. */
const EDGE = process.env.TOKENCAST_EDGE_MAIN ?? EDGE_MAIN;

let redis: RedisServer;
let producer: Proc;
let edgeA: Proc;
let edgeB: Proc;
let proxy: CutProxy;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium). The browser tests never download one.`);
  }
  redis = await startRedisServer();
  const env = { REDIS_URL: redis.url, TOKENCAST_KEY_PREFIX: 'page', MOCK_TOKENS_PER_SECOND: '40', MOCK_TTFT_MS: '100' };
  producer = await startProducer(env);
  edgeA = await startProcess(EDGE, env);
  edgeB = await startProcess(EDGE, env);
  const res = await fetch(`${edgeA.url}/`);
  if (res.status !== 200 || !(res.headers.get('content-type') ?? '').startsWith('text/html')) {
    throw new Error(`the edge does not serve the live page at / (status ${res.status}): register pageRoutes (apps/edge/src/routes/page.ts) in apps/edge/src/app.ts`);
  }
  proxy = await CutProxy.start(edgeA.port);
  profile = mkdtempSync(join(tmpdir(), 'tokencast-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
  });
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await edgeA?.kill();
  await edgeB?.kill();
  await producer?.kill();
  await redis?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const reference = (prompt: string) => mockText(parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: prompt }] }, { maxTokensCap: 1e6, maxPromptChars: 1e6 })).text;

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // Chromium logs each connection we cut on purpose ("net::ERR_…"): those are the test, not a fault.
    if (m.type() === 'error' && !m.text().includes('net::ERR_')) errors.push(m.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(url);
  return page;
}

const pageErrors = (p: Page) => (p as Page & { errors?: string[] }).errors ?? [];
const waitTokens = (p: Page, n: number) => p.waitForFunction((min) => Number(document.getElementById('tokens')?.textContent ?? 0) >= min, n, { timeout: 20_000 });
const waitState = (p: Page, state: string) => p.waitForSelector(`body[data-state="${state}"]`, { timeout: 30_000 });
const output = (p: Page) => p.evaluate(() => document.getElementById('output')?.textContent ?? '');

async function submit(page: Page, prompt: string): Promise<void> {
  await page.waitForSelector('body[data-models="loaded"]');
  expect(await page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('mock');
  await page.fill('#prompt', prompt);
  await page.click('#generate');
}

describe('the live page', () => {
  it('streams a prompt, shares it live with a viewer, and completes without a gap across a dropped connection and a killed edge', async () => {
    // 600 tokens at 40/s: the stream must still be live when the cuts come, however slowly two
    // pages open on a loaded machine (at 226 tokens it sometimes ended before the first cut).
    const prompt = 'Explain resumable streams in a few paragraphs. [mock:len=600]';
    const page = await open(`${proxy.url}/`);
    await submit(page, prompt);
    await waitTokens(page, 5);
    expect(await page.getAttribute('body', 'data-state')).toBe('streaming');
    const early = await output(page);
    expect(early.length).toBeGreaterThan(0);
    expect(reference(prompt).startsWith(early)).toBe(true);
    expect(page.url()).toMatch(/\?watch=gen_[a-z2-7]{26}$/);

    await page.click('#share');
    const link = await page.inputValue('#share-link');
    expect(link).toBe(page.url());
    const viewer = await open(link);
    await waitTokens(viewer, 1);
    expect(await viewer.isVisible('#compose')).toBe(false);

    // Every connection dropped at once, mid-stream.
    await waitTokens(page, 40);
    proxy.cutAll();
    // Then the edge itself dies; the balancer (the proxy) sends the reconnects to another one.
    await waitTokens(page, 90);
    await page.screenshot({ path: join(RESULTS, 'page-live.png') });
    proxy.retarget(edgeB.port);
    await edgeA.kill('SIGKILL');

    await waitState(page, 'done');
    await waitState(viewer, 'done');
    const expected = reference(prompt);
    expect(await output(page)).toBe(expected);
    expect(await output(viewer)).toBe(expected);
    expect(Number(await page.textContent('#reconnects'))).toBeGreaterThanOrEqual(2);
    expect(Number(await viewer.textContent('#reconnects'))).toBeGreaterThanOrEqual(2);
    expect(await page.textContent('#status')).toBe('done · stop');
    // Once it is over the figures switch to the producer's own per-token times, as the API reports them.
    await page.waitForSelector('body[data-timings="server"]');
    const id = new URL(page.url()).searchParams.get('watch') as string;
    const g = (await (await fetch(`${edgeB.url}/v1/generations/${id}`)).json()) as { timings: { tokens_per_second: number } };
    await page.waitForFunction((tps) => document.getElementById('tps')?.textContent === tps, String(g.timings.tokens_per_second), { timeout: 5_000 });
    await page.screenshot({ path: join(RESULTS, 'page.png') });
    expect(pageErrors(page)).toEqual([]);
    expect(pageErrors(viewer)).toEqual([]);
    await viewer.close();
    await page.close();
  }, 60_000);

  it('resumes after a reload mid-stream from the offset it had shown', async () => {
    proxy.retarget(edgeB.port);
    const prompt = `Reload me ${Date.now()} [mock:len=160]`;
    const page = await open(`${proxy.url}/`);
    await submit(page, prompt);
    await waitTokens(page, 30);
    await page.reload();
    await page.waitForSelector('body[data-resumed-from]');
    const resumedFrom = Number(await page.getAttribute('body', 'data-resumed-from'));
    expect(resumedFrom).toBeGreaterThan(0);
    await waitState(page, 'done');
    expect(await output(page)).toBe(reference(prompt));
    // Token events, not model tokens (the producer may coalesce): more than were shown before the reload.
    await page.waitForFunction((n) => Number(document.getElementById('tokens')?.textContent) > n, resumedFrom);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows reasoning (collapsible) and a tool call whose arguments grow as they stream; a reload keeps them', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'plan_day_trip',
          description: 'Plan a day trip',
          parameters: {
            type: 'object',
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              mode: { type: 'string', enum: ['train', 'bus', 'ferry'] },
              travellers: { type: 'integer', minimum: 1, maximum: 6 },
              sights: { type: 'array', items: { type: 'string' }, minItems: 3 },
            },
            required: ['from', 'to'],
          },
        },
      },
    ];
    const prompt = `Plan a day trip by train for two, with three sights. (${Date.now()})`;
    const out = mockOutput(
      parseChatRequest({ model: 'mock-reasoning', messages: [{ role: 'user', content: prompt }], tools, tool_choice: 'required' }, { maxTokensCap: 1e6, maxPromptChars: 1e6 }),
    );
    const reasoning = out.parts.find((p) => p.type === 'reasoning');
    const call = out.parts.find((p) => p.type === 'tool_call');
    if (reasoning?.type !== 'reasoning' || call?.type !== 'tool_call') throw new Error('the mock should reason, then call the tool');

    const page = await open(`${edgeB.url}/`);
    await page.waitForSelector('body[data-models="loaded"]');
    expect(await page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('mock-reasoning');
    await page.selectOption('#model', 'mock-reasoning');
    await page.fill('#prompt', prompt);
    await page.click('#tools-box summary');
    await page.fill('#tools', JSON.stringify(tools));
    await page.selectOption('#tool-choice', 'required');
    // Every length the arguments and the reasoning had on screen, as the DOM changed.
    await page.evaluate(() => {
      const w = window as unknown as { seenArgs: number[]; seenReasoning: number[] };
      w.seenArgs = [];
      w.seenReasoning = [];
      new MutationObserver(() => {
        const args = document.querySelector('.tool-args')?.textContent ?? '';
        if (args && args.length !== w.seenArgs.at(-1)) w.seenArgs.push(args.length);
        const r = document.getElementById('reasoning-text')?.textContent ?? '';
        if (r && r.length !== w.seenReasoning.at(-1)) w.seenReasoning.push(r.length);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.click('#generate');
    // While the model reasons, the reasoning is shown open.
    await page.waitForFunction(() => (document.getElementById('reasoning-text')?.textContent ?? '').length > 0, null, { timeout: 20_000 });
    const partial = await page.evaluate(() => document.querySelector('.tool-args')?.textContent ?? null);
    await waitState(page, 'done');

    expect(await page.textContent('#status')).toBe('done · tool_calls');
    expect(await page.textContent('.tool-name')).toBe(call.name);
    expect(await page.textContent('.tool-id')).toBe(call.id);
    expect(JSON.parse((await page.textContent('.tool-args')) as string)).toEqual(JSON.parse(call.arguments));
    expect(await page.textContent('#reasoning-text')).toBe(reasoning.text);
    expect(await page.textContent('#reasoning-meta')).toContain('signed');
    expect(await page.isVisible('#output')).toBe(false);
    const seen = await page.evaluate(() => {
      const w = window as unknown as { seenArgs: number[]; seenReasoning: number[] };
      return { seenArgs: w.seenArgs, seenReasoning: w.seenReasoning };
    });
    // The arguments grew piece by piece on screen (raw lengths before the final indented form).
    const growing = seen.seenArgs.filter((n) => n < call.arguments.length);
    expect(growing.length, `lengths seen: ${seen.seenArgs.join(',')} of ${call.arguments.length}`).toBeGreaterThanOrEqual(3);
    expect(growing).toEqual([...growing].sort((a, b) => a - b));
    expect(seen.seenReasoning.filter((n) => n < reasoning.text.length).length).toBeGreaterThanOrEqual(2);
    if (partial !== null) expect(call.arguments.startsWith(partial)).toBe(true);
    // Folded once the call started; a click opens it.
    expect(await page.getAttribute('#reasoning', 'open')).toBeNull();
    await page.click('#reasoning summary');
    expect(await page.getAttribute('#reasoning', 'open')).not.toBeNull();
    await page.screenshot({ path: join(RESULTS, 'page-tools.png'), fullPage: true });

    // A reload shows the same call and reasoning (from this tab's snapshot, then the stream's end).
    await page.reload();
    await waitState(page, 'done');
    expect(await page.textContent('.tool-name')).toBe(call.name);
    expect(JSON.parse((await page.textContent('.tool-args')) as string)).toEqual(JSON.parse(call.arguments));
    expect(await page.textContent('#reasoning-text')).toBe(reasoning.text);
    expect(pageErrors(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('with API keys on: the owner submits with a key, the share link carries a read token, a viewer without the key watches', async () => {
    const keyed = await startProcess(EDGE, {
      REDIS_URL: redis.url,
      TOKENCAST_KEY_PREFIX: 'page',
      API_KEYS: 'demo:sk-page-test-0123456789',
      READ_TOKEN_SECRET: 'page-test-secret-0123456789abcdef',
    });
    try {
      const prompt = `Keyed ${Date.now()} [mock:len=60]`;
      const page = await open(`${keyed.url}/`);
      await page.click('#auth summary');
      await page.fill('#api-key', 'sk-page-test-0123456789');
      await page.press('#api-key', 'Tab');
      await submit(page, prompt);
      await waitTokens(page, 3);
      await page.click('#share');
      const link = await page.inputValue('#share-link');
      expect(link).toMatch(/\?watch=gen_[a-z2-7]{26}&token=[\w.-]+$/);
      const viewer = await open(link);
      await waitState(viewer, 'done');
      await waitState(page, 'done');
      expect(await output(viewer)).toBe(reference(prompt));
      expect(await output(page)).toBe(reference(prompt));
      // The id alone is not enough to watch.
      const stranger = await open(link.replace(/&token=.*$/, ''));
      await waitState(stranger, 'error');
      expect(await stranger.textContent('#error')).toContain('API key or a read token');
      expect(pageErrors(page)).toEqual([]);
      expect(pageErrors(viewer)).toEqual([]);
      for (const p of [page, viewer, stranger]) await p.close();
    } finally {
      await keyed.kill();
    }
  }, 60_000);
});
