import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Long-lived responses of the Durable Streams endpoint (long-polls and SSE). When the edge shuts
 * down each is told to finish now: a long-poll answers "no new data" with the offset it waited
 * at, an SSE response ends after its last complete event; both clients simply come back (to
 * another edge) from the offset they hold.
 */
export class LiveSet {
  /** Each waiting response's finish function, with the API key it was opened with (null: none). */
  private readonly finishers = new Map<() => void, string | null>();
  closing = false;

  /** Register; the returned function unregisters. */
  add(finish: () => void, key: string | null = null): () => void {
    if (this.closing) queueMicrotask(finish);
    this.finishers.set(finish, key);
    return () => this.finishers.delete(finish);
  }

  /** Finish the responses opened with any of these (revoked) keys. */
  finishOwnedBy(keys: ReadonlySet<string>): void {
    for (const [f, key] of [...this.finishers]) if (key !== null && keys.has(key)) f();
  }

  get size(): number {
    return this.finishers.size;
  }

  finishAll(): void {
    this.closing = true;
    for (const f of [...this.finishers.keys()]) f();
  }
}

/** Headers of an SSE response; the reply's own headers (security, CORS) go out too. */
export function startSse(reply: FastifyReply, extra: Record<string, string>): ServerResponse {
  const inherited = reply.getHeaders();
  reply.hijack();
  const res = reply.raw;
  for (const [k, v] of Object.entries(inherited)) if (v !== undefined) res.setHeader(k, v as string);
  res.setHeader('content-type', 'text/event-stream');
  res.setHeader('cache-control', 'no-cache, no-transform');
  res.setHeader('connection', 'keep-alive');
  // Stops any nginx in between from buffering the stream.
  res.setHeader('x-accel-buffering', 'no');
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
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
