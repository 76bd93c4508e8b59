import { TokencastError } from '@tokencast/protocol';

export type UpstreamFailure = 'connect' | 'status' | 'first_token_timeout' | 'idle_timeout' | 'protocol' | 'model';

/** The upstream model failed; `kind` says how, for metrics and for the retry decision. */
export class UpstreamError extends TokencastError {
  readonly kind: UpstreamFailure;
  /** HTTP status the upstream answered with; 0 when it never answered. */
  readonly upstreamStatus: number;
  constructor(kind: UpstreamFailure, message: string, upstreamStatus = 0, cause?: unknown) {
    super(502, 'server_error', `upstream_${kind}`, message, { cause });
    this.kind = kind;
    this.upstreamStatus = upstreamStatus;
  }
}
