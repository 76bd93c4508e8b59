import { entryIdToOffset, fieldsToEvent, type StoredEvent } from '@tokencast/protocol';

/**
 * The events of one XREAD reply entry list that follow `cursor` without a gap. Both tails use it:
 * if the cursor moved (re-added elsewhere) while a read was in flight, the batch is stale, and the
 * next read starts from the right place; so a tail never skips or repeats an offset.
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
