import { InvalidRequestError } from './errors.js';

/**
 * Offsets are the generation's own event numbers: 1, 2, 3, … Offset 0 means "before the first
 * event", so reading "after 0" replays everything. In Redis the event at offset k has the
 * entry id `0-k`: explicit ids make a retried XADD of the same offset fail instead of duplicating.
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

export function offsetToEntryId(offset: number): string {
  return `0-${offset}`;
}

/** Returns -1 for an id that is not of our `0-k` shape (never produced by tokencast). */
export function entryIdToOffset(id: string): number {
  if (!id.startsWith('0-')) return -1;
  const n = Number(id.slice(2));
  return Number.isSafeInteger(n) && n > 0 ? n : -1;
}
