/**
 * The doorbell's ring: what one flush of appends wrote, published once its writes answered
 * (append-batch.ts). On one Redis it goes to the pub/sub channel <prefix>:bell, read by every
 * edge's tail (tail.ts); on a Redis Cluster to the writer's own sharded channel
 * <prefix>:bell:{<prefix>-bell-<k>} (SPUBLISH, engine.ts), read by every edge's tail on that
 * shard's master (cluster-tail.ts). JSON, readable with `redis-cli SUBSCRIBE <prefix>:bell` (or
 * `SSUBSCRIBE` on the shard's master):
 *
 *   {"w": writer, "n": 7, "e": [[id, offset, field, value, …], …], "g": [id, …]}
 *
 * w names the writing process's batcher (random, new at each start) and n counts its rings 1, 2,
 * … so a reader sees one that never arrived. e holds every event written, each exactly as stored
 * (field/value pairs as in the stream entry). g names generations whose events were too big to
 * carry: readers that follow them read their streams.
 */
export interface RingContent {
  events: [id: string, offset: number, ...fields: string[]][];
  named: string[];
}

/** A ring as published: its content, numbered by its writer. */
export interface Ring extends RingContent {
  writer: string;
  n: number;
}

export function formatRing(ring: Ring): string {
  return JSON.stringify({ w: ring.writer, n: ring.n, e: ring.events, g: ring.named });
}

function isRingEvent(item: unknown): item is Ring['events'][number] {
  if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[1] !== 'number') return false;
  for (let i = 2; i < item.length; i++) if (typeof item[i] !== 'string') return false;
  return true;
}

/** The ring in a message, or null when the message is not one (anything else on the channel). */
export function parseRing(message: string): Ring | null {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const { w, n, e, g } = v as Record<string, unknown>;
  if (typeof w !== 'string' || typeof n !== 'number' || !Array.isArray(e) || !Array.isArray(g)) return null;
  return { writer: w, n, events: e.filter(isRingEvent), named: g.filter((id): id is string => typeof id === 'string') };
}
