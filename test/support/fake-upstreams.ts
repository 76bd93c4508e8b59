import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Fake model servers that speak the real wire formats, for tests of the upstream paths: they
 * record what they were asked and when a request was aborted.
 */
export interface FakeUpstream {
  url: string;
  requests: { path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  /** Epoch ms at which each request's connection closed before the response ended. */
  aborts: number[];
  close(): Promise<void>;
}

export interface FakeOptions {
  /** Tokens to send; each is one SSE event. */
  tokens: string[];
  intervalMs?: number;
  /** Answer with this status and an error body instead of streaming. */
  failStatus?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

/** A recording HTTP server that answers with `handler`: for upstreams that misbehave on purpose. */
export function recordingUpstream(handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void): Promise<FakeUpstream> {
  return listen(handler, { requests: [], aborts: [] });
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void,
  fake: Omit<FakeUpstream, 'url' | 'close'>,
): Promise<FakeUpstream> {
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      fake.requests.push({ path: req.url ?? '', body, headers: req.headers });
      res.on('close', () => {
        if (!res.writableFinished) fake.aborts.push(Date.now());
      });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...fake,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function streamTokens(res: ServerResponse, opts: FakeOptions, frame: (t: string) => string, tail: string, head = ''): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (head) res.write(head);
  let i = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    if (i < opts.tokens.length) {
      res.write(frame(opts.tokens[i] as string));
      i++;
      return;
    }
    clearInterval(timer);
    res.end(tail);
  }, opts.intervalMs ?? 5);
}

export function fakeOpenAI(opts: FakeOptions): Promise<FakeUpstream> {
  return listen(
    (_req, res) => {
      if (opts.failStatus) {
        res.writeHead(opts.failStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'fake upstream refuses' } }));
        return;
      }
      const usage = opts.usage ?? { prompt_tokens: 3, completion_tokens: opts.tokens.length };
      const chunk = (t: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })}\n\n`;
      const tail =
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n` +
        `data: ${JSON.stringify({ choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })}\n\ndata: [DONE]\n\n`;
      streamTokens(res, opts, chunk, tail);
    },
    { requests: [], aborts: [] },
  );
}

export function fakeAnthropic(opts: FakeOptions): Promise<FakeUpstream> {
  const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  return listen(
    (_req, res) => {
      if (opts.failStatus) {
        res.writeHead(opts.failStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'fake refuses' } }));
        return;
      }
      const head =
        ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 7, output_tokens: 1 } } }) +
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
        ev('ping', {});
      const frame = (t: string) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: t } });
      const tail =
        ev('content_block_stop', { index: 0 }) +
        ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: opts.tokens.length } }) +
        ev('message_stop', {});
      streamTokens(res, opts, frame, tail, head);
    },
    { requests: [], aborts: [] },
  );
}
