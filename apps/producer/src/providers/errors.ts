import { TokencastError } from '@tokencast/protocol';

/**
 * How an upstream failed. The kind is for metrics, logs and the pool's retry decision; clients
 * only ever see the stable code and generic message of PUBLIC below (issue #14, item 5: the
 * upstream's own error text and its addresses stay in the producer's logs).
 */
export type UpstreamFailure =
  | 'connect'
  | 'status'
  | 'first_token_timeout'
  | 'idle_timeout'
  | 'protocol'
  | 'model'
  | 'event_too_large'
  /** The request asks for something this upstream's API cannot carry; nothing was sent. */
  | 'unsupported';

const PUBLIC: Record<UpstreamFailure, { status: number; code: string; message: string }> = {
  connect: { status: 502, code: 'upstream_unavailable', message: 'the upstream model could not be reached' },
  status: { status: 502, code: 'upstream_error', message: 'the upstream model answered with an error' },
  first_token_timeout: { status: 504, code: 'upstream_timeout', message: 'the upstream model did not start answering in time' },
  idle_timeout: { status: 504, code: 'upstream_timeout', message: 'the upstream model went silent mid-stream' },
  protocol: { status: 502, code: 'upstream_error', message: 'the upstream model sent a stream that could not be read' },
  model: { status: 502, code: 'upstream_error', message: 'the upstream model reported an error' },
  event_too_large: { status: 502, code: 'upstream_event_too_large', message: 'the upstream model sent an event larger than this deployment accepts' },
  unsupported: { status: 400, code: 'unsupported_by_upstream', message: 'the upstream serving this model cannot carry part of the request' },
};

/**
 * The upstream model failed. `message` and `code` are what clients see; `detail` (the upstream's
 * answer, the socket error, the address) goes to the logs only.
 */
export class UpstreamError extends TokencastError {
  readonly kind: UpstreamFailure;
  /** What happened, for the logs: may quote the upstream and name internal addresses. */
  readonly detail: string;
  /** HTTP status the upstream answered with; 0 when it never answered. */
  readonly upstreamStatus: number;
  /**
   * `publicMessage` replaces the generic message when we wrote the text ourselves and it says
   * nothing about the upstream's insides (e.g. which request field an upstream cannot take).
   */
  constructor(kind: UpstreamFailure, detail: string, opts: { upstreamStatus?: number; cause?: unknown; publicMessage?: string } = {}) {
    const pub = PUBLIC[kind];
    super(pub.status, pub.status === 400 ? 'invalid_request_error' : 'server_error', pub.code, opts.publicMessage ?? pub.message, { cause: opts.cause });
    this.kind = kind;
    this.detail = detail;
    this.upstreamStatus = opts.upstreamStatus ?? 0;
  }
}
