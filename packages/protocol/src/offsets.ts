import { InvalidRequestError } from './errors.js';

/**
 * Offsets are the generation's own event numbers: 1, 2, 3, … Offset 0 means "before the first
 * event", so reading "after 0" replays everything. In Redis the event at offset k, written by the
 * claimer holding fence f, has the entry id `k-f`: explicit ids make a retried XADD of the same
 * offset fail instead of duplicating, and since ids order by offset first and fence second, a
 * claim can shut out an earlier writer by moving the stream's last id to `k+1 - (f-1)`, which
 * the earlier writer's next id cannot pass (engine/lua/claim-2.lua). Issue #13: so a token needs
 * no script, only that XADD.
 */
const OFFSET_PATTERN = /^(0|[1-9][0-9]{0,15})$/;

export function parseOffset(raw: string, param: string): number {
  // Only HTTP's optional whitespace (space, tab) around a header value; String#trim would also
  // take CR, LF, NBSP and the like, turning `?from=1%0D` into 1 instead of a 400.
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!OFFSET_PATTERN.test(value)) {
    throw new InvalidRequestError(`${param} must be a non-negative decimal event offset`, 'invalid_offset', { param });
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new InvalidRequestError(`${param} is out of range`, 'invalid_offset', { param });
  }
  return n;
}

/** Largest sequence part of a stream id: `k-MAX_SEQ` sorts after every entry of offset k. */
const MAX_SEQ = '18446744073709551615';

/** The id of offset k's entry when written under `fence`. */
export function entryIdOf(offset: number, fence: number): string {
  return `${offset}-${fence}`;
}

/** An exclusive XREAD / XRANGE cursor: every entry after it has an offset above k. */
export function cursorAfter(offset: number): string {
  return `${offset}-${MAX_SEQ}`;
}

/** Returns -1 for an id that is not of our `k-f` shape (never produced by tokencast). */
export function entryIdToOffset(id: string): number {
  const dash = id.indexOf('-');
  if (dash <= 0) return -1;
  const n = Number(id.slice(0, dash));
  const seq = id.slice(dash + 1);
  if (!/^[0-9]{1,20}$/.test(seq)) return -1;
  return Number.isSafeInteger(n) && n > 0 && String(n) === id.slice(0, dash) ? n : -1;
}
