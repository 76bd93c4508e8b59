/**
 * Delivery latency across processes. Every token's text is ` ~t<µs>~`, where µs is the writer's
 * CLOCK_MONOTONIC reading (process.hrtime) when it handed the token to the system under test. All
 * processes on one machine share that clock, so a client subtracts the number it reads from its
 * own clock and gets write → receive latency, whatever the wire format around the text.
 *
 * The same numbers identify the text: clients fold every timestamp they see, in order, into a
 * 32-bit FNV-1a digest; two clients got the same text when count and digest agree, and both agree
 * with the writer's.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export const FNV_SEED = 0x811c9dc5;
const TILDE = 0x7e;

export function tokenText(us: number): string {
  return ` ~t${us}~`;
}

/** Digest of one more timestamp, over the same bytes a scanner sees: the digits and the closing `~`. */
export function digestAdd(h: number, us: number): number {
  const s = String(us);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ TILDE, 0x01000193) >>> 0;
}

export interface LatencySink {
  record(us: number): void;
}

/**
 * Finds the markers in whatever a client receives (SSE bytes, WebSocket strings), across chunk
 * boundaries. Buffer.indexOf does the searching, so a client costs little more than its socket.
 */
export class MarkerScanner {
  count = 0;
  digest = FNV_SEED;
  /** Receive time of the newest marker, µs (0: none yet). */
  lastAtUs = 0;
  /** Markers at the start whose latency is not recorded (a warm-up burst); 0: record all. */
  skipLatency = 0;
  private carry: Buffer | null = null;

  /**
   * @param latency receives write → receive latency of every marker, µs (null: not measured)
   * @param stamps when given, every timestamp is also kept, in order (verifying clients)
   */
  constructor(
    private readonly latency: LatencySink | null,
    private readonly stamps: number[] | null = null,
  ) {}

  feed(chunk: Buffer, atUs: number): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let i = buf.indexOf('~t');
    while (i !== -1) {
      let j = i + 2;
      let v = 0;
      let h = this.digest;
      for (; j < buf.length; j++) {
        const c = buf[j] as number;
        if (c === TILDE) break;
        v = v * 10 + (c - 48);
        h = Math.imul(h ^ c, 0x01000193);
      }
      if (j >= buf.length) {
        // The marker continues in the next chunk.
        this.carry = Buffer.from(buf.subarray(i));
        return;
      }
      this.digest = Math.imul(h ^ TILDE, 0x01000193) >>> 0;
      this.count++;
      this.lastAtUs = atUs;
      if (this.count > this.skipLatency) this.latency?.record(atUs - v);
      this.stamps?.push(v);
      i = buf.indexOf('~t', j + 1);
    }
    // A chunk ending in `~` may end with the first half of the next marker.
    if (buf[buf.length - 1] === TILDE) this.carry = Buffer.from(buf.subarray(buf.length - 1));
  }

  /** Same as feed() for a whole string that holds complete markers (a WebSocket message). */
  feedString(s: string, atUs: number): void {
    let i = s.indexOf('~t');
    while (i !== -1) {
      let j = i + 2;
      let v = 0;
      let h = this.digest;
      for (; j < s.length; j++) {
        const c = s.charCodeAt(j);
        if (c === TILDE) break;
        v = v * 10 + (c - 48);
        h = Math.imul(h ^ c, 0x01000193);
      }
      if (j >= s.length) return;
      this.digest = Math.imul(h ^ TILDE, 0x01000193) >>> 0;
      this.count++;
      this.lastAtUs = atUs;
      if (this.count > this.skipLatency) this.latency?.record(atUs - v);
      this.stamps?.push(v);
      i = s.indexOf('~t', j + 1);
    }
  }
}
