import { InvalidRequestError, PayloadTooLargeError } from '@tokencast/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export interface JsonBodyOptions {
  /** Largest body accepted, bytes (BODY_LIMIT_BYTES); larger ones get 413. */
  limit: number;
  /** Deepest nesting of arrays and objects accepted (MAX_JSON_DEPTH); deeper bodies get 400. */
  maxDepth: number;
}

/**
 * How much of a too-large body is still read (and thrown away) before the 413 goes out. A client
 * still sending when the server answers and closes gets EPIPE/ECONNRESET instead of the answer
 * (PITFALLS "Answering 413 before reading the body"); past this bound it gets that anyway, as
 * reading without end would let anyone keep a connection busy.
 */
export function discardLimit(limit: number): number {
  return Math.max(16 * 1_048_576, 4 * limit);
}

/**
 * Reads a request body up to `limit` bytes. A larger one is read to its end (up to
 * discardLimit) and discarded before the error is given, so the client is reading by the time
 * the 413 is written. Used by the JSON parser below and by the Durable Streams routes.
 */
export function readLimited(payload: NodeJS.ReadableStream, limit: number, tooLarge: () => Error, done: (err: Error | null, body?: Buffer) => void): void {
  const cap = discardLimit(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (err: Error | null, body?: Buffer) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  payload.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (size > cap) {
      // Past the bound: answer now (the connection closes after the answer).
      chunks.length = 0;
      finish(tooLarge());
      (payload as NodeJS.ReadableStream & { destroy(): void }).destroy();
    }
  });
  payload.once('end', () => finish(size > limit ? tooLarge() : null, size > limit ? undefined : Buffer.concat(chunks, size)));
  payload.once('error', (err: Error) => finish(size > limit ? tooLarge() : err));
}

/**
 * Depth of the deepest array/object nesting in a JSON text, stopping as soon as it passes
 * `max` (one pass, no recursion, strings skipped): a 5 000-deep body must be refused before
 * anything recursive (validators, JSON.stringify) sees it.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * The edge's JSON body parser: the size limit with a drained 413 (never a reset connection), a
 * nesting-depth limit answered with 400, then Fastify's own parser (prototype-poisoning checks).
 */
async function jsonBodyPlugin(app: FastifyInstance, opts: JsonBodyOptions): Promise<void> {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (req: FastifyRequest, payload, done) => {
    readLimited(
      payload,
      opts.limit,
      () => new PayloadTooLargeError(`the request body is larger than ${opts.limit} bytes`),
      (err, body) => {
        if (err || !body) return done(err ?? new PayloadTooLargeError('the request body is too large'), undefined);
        const text = body.toString('utf8');
        if (jsonDepthExceeds(text, opts.maxDepth)) {
          return done(new InvalidRequestError(`the request body nests arrays and objects deeper than ${opts.maxDepth} levels`, 'json_too_deep'), undefined);
        }
        parseJson(req, text, done);
      },
    );
  });
}

export default fp(jsonBodyPlugin, { name: 'tokencast-json-body' });
