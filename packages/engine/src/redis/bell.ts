/**
 * The doorbell's ring: what one flush of appends wrote (append-batch.ts). On one Redis it goes to
 * the pub/sub channel <prefix>:bell, in the flush's own pipeline, read by every edge's tail
 * (tail.ts); on a Redis Cluster, once the writes answered, to the writer's own sharded channel
 * <prefix>:bell:{<prefix>-bell-<k>} (SPUBLISH, engine.ts), read by every edge's tail on that
 * shard's master (cluster-tail.ts). JSON, readable with `redis-cli SUBSCRIBE <prefix>:bell` (or
 * `SSUBSCRIBE` on the shard's master):
 *
 *   {"w": writer, "n": 7, "e": [[id, offset, field, value, …], …], "g": [id, …]}
 *   {"w": writer, "n": 8, "e": […], "g": […], "f": {id: fence, …}}
 *
 * w names the writing process's batcher (random, new at each start) and n counts its rings 1, 2,
 * … so a reader sees one that never arrived. e holds every event written, each exactly as stored
 * (field/value pairs as in the stream entry). g names generations whose events were too big to
 * carry: readers that follow them read their streams.
 *
 * A ring with f is provisional (one Redis): sent in the same pipeline as its plain XADDs, after
 * them and in one transaction with them (a write refused while queuing, OOM, refuses the ring
 * too), so it costs Redis no wake of its own (issue #13), whether or not they were taken. f gives
 * the fence each generation's events were written with. Once run, a plain XADD is refused only when
 * a newer claim fenced its writer out or the generation was deleted; both are announced on the same
 * channel as they take effect (notices, below), so a reader that knows a generation's current
 * fence and finds another in f reads the stream instead of trusting the ring (tail.ts). A ring
 * without f (append.lua's, a cluster's) is confirmed: it carries only what was written.
 *
 * Notices, on one Redis only:
 *
 *   {"c": id, "f": fence}   claim-2.lua, in the claim's own script: the generation's fence is now this
 *   {"d": id}               store.ts delete, with the DEL in one MULTI: the generation is gone
 */
export interface RingContent {
  events: [id: string, offset: number, ...fields: string[]][];
  named: string[];
  /** Provisional: the fence of each generation's events (see above). */
  fences?: Record<string, number>;
}

/** A ring as published: its content, numbered by its writer. */
export interface Ring extends RingContent {
  writer: string;
  n: number;
}

export function formatRing(ring: Ring): string {
  const out: Record<string, unknown> = { w: ring.writer, n: ring.n, e: ring.events, g: ring.named };
  if (ring.fences) out.f = ring.fences;
  return JSON.stringify(out);
}

/**
 * The start of a ring whose events and names a script fills in (append.lua publishes what it
 * wrote): `<head>"e":[…],"g":[…]}`.
 */
export function ringHead(writer: string, n: number): string {
  return `{"w":${JSON.stringify(writer)},"n":${n},`;
}

/** A notice on the doorbell (one Redis): a claim's new fence, or a generation deleted. */
export type Notice = { claimed: string; fence: number } | { gone: string };

export function formatGone(id: string): string {
  return JSON.stringify({ d: id });
}

function isRingEvent(item: unknown): item is Ring['events'][number] {
  if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[1] !== 'number') return false;
  for (let i = 2; i < item.length; i++) if (typeof item[i] !== 'string') return false;
  return true;
}

function parseJson(message: string): Record<string, unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return null;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function parseFences(f: unknown): Record<string, number> | undefined {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return undefined;
  const out: Record<string, number> = {};
  for (const [id, fence] of Object.entries(f)) if (typeof fence === 'number') out[id] = fence;
  return out;
}

function ringOf(v: Record<string, unknown>): Ring | null {
  const { w, n, e, g } = v;
  if (typeof w !== 'string' || typeof n !== 'number' || !Array.isArray(e) || !Array.isArray(g)) return null;
  const ring: Ring = { writer: w, n, events: e.filter(isRingEvent), named: g.filter((id): id is string => typeof id === 'string') };
  if (v.f !== undefined) ring.fences = parseFences(v.f) ?? {}; // provisional, whatever else it holds
  return ring;
}

function noticeOf(v: Record<string, unknown>): Notice | null {
  if (typeof v.c === 'string' && typeof v.f === 'number') return { claimed: v.c, fence: v.f };
  if (typeof v.d === 'string') return { gone: v.d };
  return null;
}

/** The ring in a message, or null when the message is not one (anything else on the channel). */
export function parseRing(message: string): Ring | null {
  const v = parseJson(message);
  return v ? ringOf(v) : null;
}

/** A message on the doorbell: a ring, a notice, or null for anything else. */
export function parseBell(message: string): { ring: Ring } | { notice: Notice } | null {
  const v = parseJson(message);
  if (!v) return null;
  const ring = ringOf(v);
  if (ring) return { ring };
  const notice = noticeOf(v);
  return notice ? { notice } : null;
}
