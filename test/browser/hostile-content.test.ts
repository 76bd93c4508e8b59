import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';

/**
 * Issue #14, item 1, in a real headless Chromium (Debian's): what a caller stores in a Durable
 * Stream is served back on the API's origin, the origin of the live page. A browser sent to such
 * a stream must never run it as a document of that origin, and the live page must keep the API
 * key where same-origin content cannot read it.
 */
const CHROMIUM = '/usr/bin/chromium';
const KEY = `sk-page-${randomBytes(16).toString('hex')}`;

let open: Proc;
let keyed: Proc;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium).`);
  open = await startEmbedded({ LOG_LEVEL: 'warn' });
  keyed = await startEmbedded({ LOG_LEVEL: 'warn', API_KEYS: `page:${KEY}` });
  profile = mkdtempSync(join(tmpdir(), 'tokencast-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await open?.kill();
  await keyed?.kill();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** A body whose script, if it ever runs on the edge's origin, creates the stream `marker`. */
function payloads(marker: (kind: string) => string): Array<{ name: string; type: string; body: string; marker: string }> {
  const beacon = (kind: string) => `fetch('/v1/stream/${marker(kind)}',{method:'PUT'})`;
  return [
    { name: 'p.html', type: 'text/html', body: `<!doctype html><script>${beacon('html')}</script><img src=x onerror="${beacon('html-onerror')}">`, marker: marker('html') },
    { name: 'p.htm', type: 'text/html; charset=utf-8', body: `<script>${beacon('html-charset')}</script>`, marker: marker('html-charset') },
    {
      name: 'p.svg',
      type: 'image/svg+xml',
      body: `<svg xmlns="http://www.w3.org/2000/svg"><script>${beacon('svg')}</script></svg>`,
      marker: marker('svg'),
    },
    {
      name: 'p.xhtml',
      type: 'application/xhtml+xml',
      body: `<html xmlns="http://www.w3.org/1999/xhtml"><body><script>${beacon('xhtml')}</script></body></html>`,
      marker: marker('xhtml'),
    },
    { name: 'p.xml', type: 'text/xml', body: `<x:script xmlns:x="http://www.w3.org/1999/xhtml">${beacon('xml')}</x:script>`, marker: marker('xml') },
    // Sniffing: a "plain" or binary body that looks like HTML.
    { name: 'p.txt', type: 'text/plain', body: `<html><script>${beacon('plain')}</script></html>`, marker: marker('plain') },
    { name: 'p.bin', type: 'application/octet-stream', body: `<html><script>${beacon('bin')}</script></html>`, marker: marker('bin') },
  ];
}

describe('#14.1 caller content on the API origin', () => {
  it('#14.1 durable stream bodies never render as active content on the API origin (HTML, SVG, XHTML, XML, sniffed)', async () => {
    const run = randomBytes(4).toString('hex');
    const list = payloads((kind) => `ran-${run}-${kind}`);
    for (const p of list) {
      const res = await fetch(`${open.url}/v1/stream/${run}/${p.name}`, { method: 'PUT', headers: { 'content-type': p.type }, body: p.body });
      expect(res.status).toBe(201);
    }
    // The controls: the same beacon from a page of the origin does run (so silence below means
    // something), and reading the streams with fetch still gives their bytes and types.
    const page = await browser.newPage();
    for (const p of list) {
      const url = `${open.url}/v1/stream/${run}/${p.name}`;
      const res = await fetch(url);
      expect(await res.text()).toBe(p.body);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(/sandbox/);
      // A top-level navigation (a link someone was sent) and a frame of the origin.
      await page.goto(url).catch(() => {}); // an attachment aborts the navigation: that is a pass
      await page.goto(`${open.url}/v1/stream/${run}/nothing-here`).catch(() => {});
      await page.setContent(`<iframe src="${url}"></iframe><object data="${url}"></object><embed src="${url}">`).catch(() => {});
    }
    await sleep(1_000);
    for (const p of list) {
      const ran = await fetch(`${open.url}/v1/stream/${p.marker}`, { method: 'HEAD' });
      expect(ran.status, `${p.type} ran its script on the API origin`).toBe(404);
    }
    // Control: a script of the origin itself can create a marker (the beacon works).
    await page.goto(`${open.url}/`);
    await page.evaluate((name) => fetch(`/v1/stream/${name}`, { method: 'PUT' }).then((r) => r.status), `ran-${run}-control`);
    expect((await fetch(`${open.url}/v1/stream/ran-${run}-control`, { method: 'HEAD' })).status).toBe(200);
    await page.close();
  }, 60_000);

  it('#14.1 the live page keeps the API key in memory, out of any storage same-origin content can read', async () => {
    const page = await browser.newPage();
    await page.goto(`${keyed.url}/`);
    await page.click('#auth summary');
    await page.fill('#api-key', KEY);
    await page.dispatchEvent('#api-key', 'change');
    await page.waitForSelector('body[data-models="loaded"]');
    await page.fill('#prompt', 'key in memory [mock:len=20]');
    await page.click('#generate');
    // The key is used (the submit is accepted and streams to the end) ...
    await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
    // ... yet no storage another document of this origin could open holds it.
    const stored = await page.evaluate(() => {
      const dump = (s: Storage) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i) ?? '')}`).join('\n');
      return `${dump(sessionStorage)}\n${dump(localStorage)}\n${document.cookie}`;
    });
    expect(stored).not.toContain(KEY);
    // A reload forgets the key and still resumes the generation, with the read token in its URL.
    expect(page.url()).toMatch(/token=rt1\./);
    await page.reload();
    await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
    expect(await page.inputValue('#api-key')).toBe('');
    await page.close();
  }, 60_000);
});
