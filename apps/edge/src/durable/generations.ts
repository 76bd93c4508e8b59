import type { ServerResponse } from 'node:http';
import type { GenerationStore } from '@tokencast/engine';
import { eventPayloads, type GenerationMeta, isGenerationId, isTerminalStatus, type StoredEvent, type WireContext, wireContext } from '@tokencast/protocol';
import type { FastifyReply } from 'fastify';
import type { Access, Principal } from '../access/access.js';
import type { Limits } from '../access/limits.js';
import { attachHttpViewer } from '../fanout/attach.js';
import type { Channel } from '../fanout/channel.js';
import type { Hub } from '../fanout/hub.js';
import type { Entry, Sink } from '../fanout/sink.js';
import { drained, startSse } from '../fanout/sse-response.js';
import type { DurableConfig } from './config.js';
import { badRequest, DurableError } from './errors.js';
import type { LiveSet } from './live.js';
import { type DurableRequest, formatOffset, GENERATION_EPOCH, H, type OffsetParam, offsetQuery, responseCursor, sseControl, sseData } from './protocol.js';

/**
 * Every generation, read-only, as an application/json durable stream at `<base>/generations/<id>`.
 * Its messages are the generation's OpenAI chunks, exactly the `data:` payloads of its SSE events
 * (without `[DONE]`): one entry per stored event, so the durable offset after event k is
 * `0000000000000000_<k>`, the same k as `Last-Event-ID` on /v1/generations/:id/events. The stream
 * is closed once the terminal event has been read: a Durable Streams client sees the end as the
 * stream's end. Access is the events endpoint's: the creating key or a read token (`?token=`).
 * Live reads ride on the edge's hub, like every other viewer of a generation.
 */
export interface GenerationViewDeps {
  hub: Hub;
  store: GenerationStore;
  access: Access;
  limits?: Limits;
  config: DurableConfig;
  live: LiveSet;
}

const CONTENT_TYPE = 'application/json';
/** Events per catch-up read. */
const READ_EVENTS = 512;

const notFound = () => new DurableError(404, 'stream_not_found', 'No stream at this URL');

/** A generation view is read-only: writes answer 405 with the methods it allows. */
export function generationWriteRefused(): DurableError {
  return new DurableError(405, 'read_only_stream', 'generation streams are read-only', { allow: 'GET, HEAD, OPTIONS' });
}

function messages(ctx: WireContext, ev: StoredEvent): string[] {
  return eventPayloads(ctx, ev).filter((p) => p !== '[DONE]');
}

function body(ctx: WireContext, events: readonly StoredEvent[]): Buffer {
  return Buffer.from(`[${events.flatMap((ev) => messages(ctx, ev)).join(',')}]`);
}

function ended(meta: GenerationMeta): boolean {
  return isTerminalStatus(meta.status);
}

export async function generationView(req: DurableRequest, reply: FastifyReply, deps: GenerationViewDeps, id: string): Promise<void> {
  if (!isGenerationId(id)) throw notFound();
  const principal = await deps.access.identify(req);
  deps.access.requireAny(principal);
  const meta = await deps.store.getMeta(id);
  if (!meta || !deps.access.canWatch(principal, meta)) throw notFound();
  reply.header('x-generation-id', id);
  if (req.method === 'HEAD') {
    reply.header('content-type', CONTENT_TYPE).header(H.nextOffset, formatOffset(GENERATION_EPOCH, meta.lastOffset)).header('cache-control', 'no-store');
    if (ended(meta)) reply.header(H.closed, 'true');
    reply.code(200).send();
    return;
  }
  const live = req.query.live;
  const o = offsetQuery(req);
  if (live !== undefined && live !== 'long-poll' && live !== 'sse') throw badRequest('invalid_live', 'live must be long-poll or sse');
  if (live !== undefined && !o) throw badRequest('missing_offset', `live=${live} needs an offset (-1 for the start, now for the tail)`);
  const after = startAfter(o ?? { kind: 'start' }, meta);
  if (live === 'sse') return sse(req, reply, deps, meta, after, principal);
  const events = after < meta.lastOffset ? await readEvents(deps, id, after) : [];
  if (events.length > 0 || live === undefined || ended(meta)) return answer(req, reply, meta, after, events, live !== undefined);
  return longPoll(req, reply, deps, meta, after, principal);
}

function startAfter(o: OffsetParam, meta: GenerationMeta): number {
  if (o.kind === 'start') return 0;
  if (o.kind === 'now') return meta.lastOffset;
  if (o.epoch !== GENERATION_EPOCH) throw new DurableError(410, 'offset_gone', 'this offset is not one of this generation');
  if (o.seq > meta.lastOffset) throw badRequest('offset_out_of_range', `the offset is beyond the newest event (${meta.lastOffset})`);
  return o.seq;
}

/** Events after `after` up to the read budget; 410 when the store no longer has them. */
async function readEvents(deps: GenerationViewDeps, id: string, after: number): Promise<StoredEvent[]> {
  const events = await deps.store.readEvents(id, after, READ_EVENTS);
  if (events.length === 0 || events[0]?.offset !== after + 1) throw new DurableError(410, 'offset_gone', `events after offset ${after} are no longer available`);
  let bytes = 0;
  let n = 0;
  for (const ev of events) {
    bytes += ev.kind === 'token' || ev.kind === 'reasoning' || ev.kind === 'refusal' ? ev.text.length + 200 : ev.kind === 'tool_args' ? ev.args.length + 200 : 400;
    n += 1;
    if (bytes > deps.config.maxReadBytes) break;
  }
  return events.slice(0, n);
}

function answer(req: DurableRequest, reply: FastifyReply, meta: GenerationMeta, after: number, events: readonly StoredEvent[], live: boolean): void {
  const last = events.length > 0 ? (events[events.length - 1] as StoredEvent).offset : after;
  const closed = ended(meta) && last >= meta.lastOffset;
  const upToDate = last >= meta.lastOffset;
  reply.header('content-type', CONTENT_TYPE).header(H.nextOffset, formatOffset(GENERATION_EPOCH, last));
  if (upToDate) reply.header(H.upToDate, 'true');
  if (closed) reply.header(H.closed, 'true');
  if (live) reply.header(H.cursor, responseCursor(req));
  const etag = `"${meta.id}:${after}:${last}${closed ? ':c' : ''}"`;
  reply.header('etag', etag).header('cache-control', upToDate && !closed ? 'no-store' : 'private, max-age=60, stale-while-revalidate=300');
  if (live && events.length === 0) {
    reply.code(204).send();
    return;
  }
  if (!live && req.headers['if-none-match'] === etag) {
    reply.code(304).send();
    return;
  }
  reply.code(200).send(body(wireContext(meta), events));
}

/** Long-poll: the first events the hub pushes after `after`, or 204 after the timeout. */
async function longPoll(req: DurableRequest, reply: FastifyReply, deps: GenerationViewDeps, meta: GenerationMeta, after: number, principal: Principal): Promise<void> {
  let settle!: (events: StoredEvent[] | null) => void;
  const got = new Promise<StoredEvent[] | null>((resolve) => {
    settle = resolve;
  });
  const onClose = () => settle(null);
  let timer: NodeJS.Timeout | undefined;
  let unregister = () => {};
  const attached = await attachHttpViewer(deps, req, reply, {
    id: meta.id,
    principal,
    notFound,
    open: (_ch, leave) => {
      const sink = new WaitSink(after, (entries) => settle(entries.map((e) => e.ev)));
      timer = setTimeout(() => settle(null), deps.config.longPollMs);
      reply.raw.once('close', onClose);
      unregister = deps.live.add(() => settle(null));
      // However the wait ends (events, the timeout, the client leaving, the edge closing).
      void got.then(() => {
        sink.closed = true;
        leave();
      });
      return sink;
    },
  });
  if (!attached) return; // the client left while the channel loaded: nobody to answer
  let events: StoredEvent[] | null;
  try {
    events = await got;
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
    unregister();
  }
  const fresh = (await deps.store.getMeta(meta.id)) ?? meta;
  answer(req, reply, fresh, after, events ?? [], true);
}

/** Takes one batch and stops: what a long-poll answers with. */
class WaitSink implements Sink {
  closed = false;
  constructor(
    public cursor: number,
    private readonly take: (entries: readonly Entry[]) => void,
  ) {}
  push(entries: readonly Entry[]): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.cursor = (entries[entries.length - 1] as Entry).ev.offset;
    this.take(entries);
    return false;
  }
  onResume(): void {}
  fail(): void {
    if (this.closed) return;
    this.closed = true;
    this.take([]);
  }
  /** The edge is draining: answer "nothing new" now; the client polls again (elsewhere). */
  redirect(): void {
    this.fail();
  }
}

async function sse(req: DurableRequest, reply: FastifyReply, deps: GenerationViewDeps, meta: GenerationMeta, after: number, principal: Principal): Promise<void> {
  await attachHttpViewer(deps, req, reply, {
    id: meta.id,
    principal,
    notFound,
    open: (ch, leave) => {
      const res = startSse(reply, { contentType: 'text/event-stream', headers: { 'x-generation-id': meta.id } });
      const sink = new ViewSseSink(req, res, ch, after, deps.config);
      const unregister = deps.live.add(() => sink.end());
      const endTimer = setTimeout(() => sink.end(), deps.config.sseMaxMs);
      sink.onEnd = () => {
        clearTimeout(endTimer);
        unregister();
        leave();
      };
      if (ended(meta) && after >= meta.lastOffset) {
        sink.closeAt(after);
        return null;
      }
      if (after >= ch.lastOffset && after >= meta.lastOffset)
        res.write(sseControl({ streamNextOffset: formatOffset(GENERATION_EPOCH, after), streamCursor: responseCursor(req), upToDate: true }));
      return sink;
    },
  });
}

/**
 * One SSE response of a generation view. Each batch the channel pushes becomes one data event
 * (a JSON array of its chunks) and its control event; the terminal event's control says
 * streamClosed and ends the response. Backpressure as in SseSink: a full socket pauses the
 * channel until it drains (or is cut after the stall time; the client resumes from its offset).
 */
class ViewSseSink implements Sink {
  closed = false;
  onEnd: () => void = () => {};
  private resume: (() => void) | null = null;

  constructor(
    private readonly req: DurableRequest,
    private readonly res: ServerResponse,
    private readonly ch: Channel,
    public cursor: number,
    private readonly config: DurableConfig,
  ) {
    res.once('close', () => this.end());
  }

  push(entries: readonly Entry[]): boolean {
    if (this.closed) return false;
    const last = (entries[entries.length - 1] as Entry).ev;
    const data = body(
      this.ch.ctx,
      entries.map((e) => e.ev),
    );
    this.cursor = last.offset;
    const next = formatOffset(GENERATION_EPOCH, last.offset);
    if (last.kind === 'end') {
      this.res.write(sseData(data, true) + sseControl({ streamNextOffset: next, streamClosed: true, upToDate: true }));
      this.end();
      return false;
    }
    const control =
      last.offset >= this.ch.lastOffset
        ? { streamNextOffset: next, streamCursor: responseCursor(this.req), upToDate: true }
        : { streamNextOffset: next, streamCursor: responseCursor(this.req) };
    const ok = this.res.write(sseData(data, true) + sseControl(control));
    if (!ok) {
      void drained(this.res, this.config.longPollMs).then((more) => {
        if (!more) this.end();
        else this.resume?.();
      });
    }
    return ok;
  }

  /** The generation had ended before this viewer's offset: say so and end. */
  closeAt(seq: number): void {
    this.res.write(sseControl({ streamNextOffset: formatOffset(GENERATION_EPOCH, seq), streamClosed: true, upToDate: true }));
    this.end();
  }

  onResume(cb: () => void): void {
    this.resume = cb;
  }

  fail(): void {
    // The events after the cursor are gone: end; the client's next request gets the 410.
    this.end();
  }

  heartbeat(frame: Buffer): void {
    if (!this.closed) this.res.write(frame);
  }

  redirect(): void {
    this.end();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.res.writableEnded) this.res.end();
    this.onEnd();
  }
}
