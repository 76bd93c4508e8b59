import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createResumableStreamContext } from 'resumable-stream';
import { EVENTS_PATH, SSE_HEADERS } from '../wire.js';

/**
 * `resumable-stream` (Vercel), as its README shows: the route that follows a stream calls
 * resumeExistingStream(streamId) and returns the stream as the response body (here piped into a
 * node:http response, which respects backpressure). The writer process created the stream with
 * createNewResumableStream; both use the library's default `redis` clients on REDIS_URL.
 */
const ctx = createResumableStreamContext({ waitUntil: null });

const server = createServer(async (req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  const m = EVENTS_PATH.exec(req.url ?? '');
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  try {
    const stream = await ctx.resumeExistingStream(m[1] as string);
    if (stream === undefined) {
      res.writeHead(404).end('no such stream');
      return;
    }
    if (stream === null) {
      res.writeHead(422).end('Stream is already done');
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    await pipeline(Readable.fromWeb(stream as unknown as WebReadableStream<string>), res).catch(() => {});
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(String(err));
    else res.destroy();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
