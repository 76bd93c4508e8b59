import { entryIdToOffset, type StoredEvent } from '@tokencast/protocol';
import type { TailCursors } from '../tail-core.js';
import { fieldsToEvent } from './codec.js';
import type { Keys } from './keys.js';

export type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * The events of one XREAD reply entry list that follow `cursor` without a gap (decoding stops at
 * the first entry that does not): the stream-entry half of TailCursors.deliver.
 */
export function contiguousAfter(cursor: number, entries: readonly [id: string, fields: string[]][]): StoredEvent[] {
  const events: StoredEvent[] = [];
  let next = cursor + 1;
  for (const [entryId, fields] of entries) {
    const offset = entryIdToOffset(entryId);
    if (offset !== next) break;
    const ev = fieldsToEvent(offset, fields);
    if (!ev) break;
    events.push(ev);
    next += 1;
  }
  return events;
}

/**
 * Delivers an XREAD reply through the shared core (both Redis tails). Calls `more(id)` for a
 * stream whose reply was a full batch of `count`, all delivered: there may be more to read.
 */
export function deliverReply(core: TailCursors, keys: Keys, reply: NonNullable<XReadReply>, count: number, more: (id: string) => void): void {
  for (const [key, entries] of reply) {
    const id = keys.idOfEvents(key);
    if (id === null) continue;
    const cursor = core.cursor(id);
    if (cursor === undefined) continue; // removed while the read was in flight
    const events = contiguousAfter(cursor, entries);
    const delivered = core.deliver(id, events);
    if (entries.length >= count && delivered === entries.length && core.has(id)) more(id);
  }
}
