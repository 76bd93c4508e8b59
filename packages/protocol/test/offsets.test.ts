import { describe, expect, it } from 'vitest';
import { cursorAfter, entryIdOf, entryIdToOffset, InvalidRequestError, parseOffset } from '../src/index.js';

describe('parseOffset', () => {
  it('accepts decimal offsets from 0 to the largest safe integer', () => {
    expect(parseOffset('0', 'from')).toBe(0);
    expect(parseOffset('1', 'from')).toBe(1);
    expect(parseOffset('42', 'from')).toBe(42);
    expect(parseOffset('9007199254740991', 'from')).toBe(Number.MAX_SAFE_INTEGER);
    // Header values may arrive with surrounding whitespace.
    expect(parseOffset(' 7 ', 'Last-Event-ID')).toBe(7);
  });

  it.each([
    [''],
    [' '],
    ['-1'],
    ['+1'],
    ['01'],
    ['00'],
    ['1.0'],
    ['1.5'],
    ['1e3'],
    ['0x10'],
    ['abc'],
    ['12abc'],
    ['NaN'],
    ['Infinity'],
    ['1 2'],
    ['１'], // full-width digit
    ['٣'], // Arabic-Indic digit
    ['9007199254740992'],
    ['99999999999999999999'],
    ['1\n'.repeat(2)],
    ['3\r\ndata: x'],
  ])('rejects %j with a 400 invalid_offset naming the parameter', (raw) => {
    let caught: unknown;
    try {
      parseOffset(raw, 'Last-Event-ID');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidRequestError);
    const e = caught as InvalidRequestError;
    expect(e.statusCode).toBe(400);
    expect(e.code).toBe('invalid_offset');
    expect(e.param).toBe('Last-Event-ID');
  });

  it('maps offsets to Redis entry ids (offset-fence) and back', () => {
    expect(entryIdOf(7, 3)).toBe('7-3');
    expect(entryIdToOffset('7-3')).toBe(7);
    expect(entryIdToOffset(entryIdOf(123_456, 1))).toBe(123_456);
    expect(cursorAfter(7)).toBe('7-18446744073709551615');
    for (const id of ['0-0', '0-7', '-7', '07-1', '7-', '7-x', '7--1', '7', 'x-1']) expect(entryIdToOffset(id), id).toBe(-1);
  });
});
