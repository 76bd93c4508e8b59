import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcess, startInProcess } from '../support/in-process.js';
import { readSse } from '../support/sse.js';

/** on_disconnect: a viewer leaving never cancels by itself, unless the request asked for it. */
describe('last viewer leaving', () => {
  let app: InProcess;
  let url: string;
  const env = { MOCK_TTFT_MS: '5', MOCK_TOKENS_PER_SECOND: '100', LOG_LEVEL: 'silent', LAST_VIEWER_GRACE_MS: '300', EDGE_CHANNEL_LINGER_MS: '50' };

  beforeAll(async () => {
    app = await startInProcess(env);
    url = app.url;
  });

  afterAll(async () => {
    await app?.stop();
  });

  async function submit(extra: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', max_tokens: 60, messages: [{ role: 'user', content: '[mock:len=500] a long one' }], ...extra }),
    });
    return ((await res.json()) as { id: string }).id;
  }

  async function statusAfter(id: string, ms: number): Promise<{ status: string; tokens: number; usage: { completion_tokens: number } | null }> {
    await new Promise((r) => setTimeout(r, ms));
    return (await (await fetch(`${url}/v1/generations/${id}`)).json()) as { status: string; tokens: number; usage: { completion_tokens: number } | null };
  }

  it('continues by default when every viewer leaves', async () => {
    const id = await submit({});
    const part = await readSse(`${url}/v1/generations/${id}/events`, { stopAfter: 3 });
    expect(part.ids.length).toBeGreaterThanOrEqual(3);
    const meta = await statusAfter(id, 1200);
    expect(meta.status).toBe('completed');
    expect(meta.tokens).toBe(60);
  });

  it('cancels after the grace period with on_disconnect=cancel, with honest usage', async () => {
    const id = await submit({ on_disconnect: 'cancel' });
    const part = await readSse(`${url}/v1/generations/${id}/events`, { stopAfter: 3 });
    expect(part.ids.length).toBeGreaterThanOrEqual(3);
    const meta = await statusAfter(id, 900);
    expect(meta.status).toBe('cancelled');
    expect(meta.tokens).toBeLessThan(60);
    expect(meta.usage?.completion_tokens).toBe(meta.tokens);
  });

  it('does not cancel when a viewer comes back within the grace period', async () => {
    const id = await submit({ on_disconnect: 'cancel' });
    const first = await readSse(`${url}/v1/generations/${id}/events`, { stopAfter: 2 });
    const last = first.ids[first.ids.length - 1] as number;
    const rest = await readSse(`${url}/v1/generations/${id}/events`, { headers: { 'last-event-id': String(last) } });
    expect(rest.done).toBe(true);
    const meta = await statusAfter(id, 0);
    expect(meta.status).toBe('completed');
    expect(rest.ids[0]).toBe(last + 1);
  });

  it('rejects an unknown policy', async () => {
    const res = await fetch(`${url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'x' }], on_disconnect: 'explode' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('on_disconnect');
  });
});

describe('per-key last-viewer policy (ON_DISCONNECT_CANCEL_KEYS)', () => {
  let app: InProcess;
  let url: string;
  const env = {
    MOCK_TTFT_MS: '5',
    MOCK_TOKENS_PER_SECOND: '100',
    LOG_LEVEL: 'silent',
    LAST_VIEWER_GRACE_MS: '300',
    EDGE_CHANNEL_LINGER_MS: '50',
    API_KEYS: 'kiosk:kiosk-key-0123456789,batch:batch-key-0123456789',
    ON_DISCONNECT_CANCEL_KEYS: 'kiosk',
  };

  beforeAll(async () => {
    app = await startInProcess(env);
    url = app.url;
  });

  afterAll(async () => {
    await app?.stop();
  });

  async function runAndLeave(key: string, extra: Record<string, unknown> = {}): Promise<string> {
    const auth = { authorization: `Bearer ${key}` };
    const res = await fetch(`${url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'mock', max_tokens: 60, messages: [{ role: 'user', content: '[mock:len=500] per key' }], ...extra }),
    });
    const { id } = (await res.json()) as { id: string };
    await readSse(`${url}/v1/generations/${id}/events`, { headers: auth, stopAfter: 3 });
    await new Promise((r) => setTimeout(r, 1200));
    const meta = (await (await fetch(`${url}/v1/generations/${id}`, { headers: auth })).json()) as { status: string };
    return meta.status;
  }

  it("cancels a listed key's generation when its viewers leave, and not another key's", async () => {
    const [kiosk, batch] = await Promise.all([runAndLeave('kiosk-key-0123456789'), runAndLeave('batch-key-0123456789')]);
    expect(kiosk).toBe('cancelled');
    expect(batch).toBe('completed');
  });

  it('lets a request of a listed key say on_disconnect "continue"', async () => {
    expect(await runAndLeave('kiosk-key-0123456789', { on_disconnect: 'continue' })).toBe('completed');
  });
});
