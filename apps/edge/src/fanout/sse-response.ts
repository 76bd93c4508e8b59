import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseStart {
  /** The Content-Type; the Durable Streams protocol wants exactly `text/event-stream`. */
  contentType: 'text/event-stream' | 'text/event-stream; charset=utf-8';
  /** Headers of this stream on top of the reply's own and the SSE ones (x-generation-id, …). */
  headers?: Record<string, string>;
}

/**
 * Start an SSE response: from here the response is ours (hijacked; Fastify's hooks and error
 * handler no longer write to it), so everything that can fail with a status must have failed
 * before. The headers the reply holds already (CORS, the security headers of a scope, set by
 * hooks) go out too. X-Accel-Buffering stops any nginx in between from buffering the stream.
 * No Connection header: Node sets it from the request, and closes the socket after the end when
 * the client asked for `Connection: close` (a forced keep-alive would leave that socket open).
 * Heartbeats and `retry:` hints are the sinks' (one clock for every viewer: the hub's tick).
 */
export function startSse(reply: FastifyReply, start: SseStart): ServerResponse {
  const inherited = reply.getHeaders();
  reply.hijack();
  const res = reply.raw;
  // setHeader (not writeHead's argument) so the request log line can read the generation id.
  for (const [k, v] of Object.entries(inherited)) if (v !== undefined) res.setHeader(k, v as string | number | readonly string[]);
  res.setHeader('content-type', start.contentType);
  res.setHeader('cache-control', 'no-cache, no-transform');
  res.setHeader('x-accel-buffering', 'no');
  for (const [k, v] of Object.entries(start.headers ?? {})) res.setHeader(k, v);
  res.writeHead(200);
  res.flushHeaders();
  return res;
}

/** Resolves once the response can take more (drain), or is closed, or after `ms` (stalled). */
export function drained(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.writableEnded || res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
