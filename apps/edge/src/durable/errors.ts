import type { DurableQuotaRefusal } from '@tokencast/engine';
import { type ErrorType, errorTypeOf, TokencastError } from '@tokencast/protocol';

/**
 * An error answer of the Durable Streams endpoint: our usual OpenAI-style body, with the status
 * the protocol prescribes and the protocol headers it asks for on that answer (Stream-Closed and
 * Stream-Next-Offset on a 409 for a closed stream, Producer-Epoch on a 403, …).
 */
export class DurableError extends TokencastError {
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}, type: ErrorType = errorTypeOf(statusCode)) {
    super(statusCode, type, code, message);
    this.headers = headers;
  }
}

export const badRequest = (code: string, message: string, headers?: Record<string, string>) => new DurableError(400, code, message, headers);
export const conflict = (code: string, message: string, headers?: Record<string, string>) => new DurableError(409, code, message, headers);
/** Unknown, expired and (with keys) other keys' streams all get this same answer. */
export const streamNotFound = () => new DurableError(404, 'stream_not_found', 'No stream at this URL');
/** Deleted while forks of it live on: its name cannot be used until they are gone. */
export const streamGone = () => new DurableError(410, 'stream_gone', 'This stream was deleted; its forks still hold it');

/**
 * The key's quota refused a write (DURABLE_STREAMS_MAX_PER_KEY or DURABLE_STREAMS_MAX_BYTES_PER_KEY):
 * 507 like a full store, which clients do not retry (the Durable Streams client retries 429 and
 * 503), typed as the caller's to fix: delete streams or let them expire. Nothing was written.
 */
export function quotaExceeded(r: DurableQuotaRefusal): DurableError {
  const message =
    r.limit === 'streams'
      ? `this API key holds ${r.used} durable streams, the most DURABLE_STREAMS_MAX_PER_KEY (${r.max}) allows: delete some or let them expire; nothing was created`
      : `this write would take this API key's durable streams past DURABLE_STREAMS_MAX_BYTES_PER_KEY (${r.max} bytes; ${r.used} stored): delete some or let them expire; nothing was written`;
  return new DurableError(507, 'quota_exceeded', message, {}, 'invalid_request_error');
}
