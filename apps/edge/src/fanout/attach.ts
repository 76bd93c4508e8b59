import { NotFoundError } from '@tokencast/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Access, keySubject, type Principal } from '../access/access.js';
import type { Limits } from '../access/limits.js';
import type { Channel } from './channel.js';
import type { Hub } from './hub.js';
import type { Sink } from './sink.js';

export interface AttachDeps {
  hub: Hub;
  access: Access;
  /** Absent: streams are not counted (an edge built without limits). */
  limits?: Limits;
}

/** One viewer about to watch one generation: every SSE response, WebSocket subscription and generation view. */
export interface ViewerRequest<S extends Sink> {
  /** Generation id. */
  id: string;
  /** The caller, identified already (a key, a read token, or anonymous). */
  principal: Principal;
  /** Client address: streams are counted per address too. */
  ip: string;
  /** A stream slot the caller reserved already (accept()); null or absent: take one here. Given back on every path. */
  reserved?: (() => void) | null;
  /** What an unknown or forbidden id throws: each wire has its own 404, and the two must look the same. */
  notFound: () => Error;
  /**
   * Checks on the loaded channel before a slot is taken (offset ranges; may await the store).
   * Throw to refuse; return false when there is nothing to attach and the caller has answered
   * (a WebSocket subscription at the end of a finished generation). Absent: attach.
   */
  check?: (ch: Channel) => boolean | Promise<boolean>;
  /** True once the client is gone (response or socket closed): its close has fired already, so no sink would hear it. */
  gone: () => boolean;
  /**
   * Build the sink (synchronous: nothing can close in between). `leave` gives the slot and the
   * channel back: the sink calls it once it is over, whatever the reason (idempotent). Return
   * null when there is nothing to attach (the caller answered already); everything is given back.
   */
  open: (ch: Channel, leave: () => void) => S | null;
}

/**
 * Acquire the generation's channel, check the caller may watch it, take a stream slot (per key
 * and per address), open the sink and attach it: the one sequence behind every viewer. Whatever
 * fails on the way (unknown id, forbidden, offset out of range, too many streams, the client
 * leaving while the store answered, an exception in open) gives back everything taken so far,
 * the caller's reserved slot included; once attached, the sink's `leave` does. Returns null
 * when nothing was attached.
 */
export async function attachViewer<S extends Sink>(deps: AttachDeps, v: ViewerRequest<S>): Promise<{ ch: Channel; sink: S } | null> {
  const { hub } = deps;
  let ch: Channel;
  try {
    ch = await hub.acquire(v.id);
  } catch (err) {
    v.reserved?.();
    throw err instanceof NotFoundError ? v.notFound() : err;
  }
  let slot: () => void;
  try {
    if (!deps.access.canWatch(v.principal, { id: v.id, owner: ch.owner })) throw v.notFound();
    // The client may leave during any await before this point: then nothing is attached.
    const proceed = !v.gone() && (v.check ? await v.check(ch) : true) && !v.gone();
    if (!proceed) {
      v.reserved?.();
      hub.release(ch);
      return null;
    }
    slot = v.reserved ?? deps.limits?.openStream(keySubject(v.principal), v.ip) ?? (() => {});
  } catch (err) {
    v.reserved?.();
    hub.release(ch);
    throw err;
  }
  let sink: S | null = null;
  let attached = false;
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    slot();
    if (attached && sink) hub.detach(ch, sink);
    else hub.release(ch);
  };
  try {
    sink = v.open(ch, leave);
  } catch (err) {
    leave();
    throw err;
  }
  if (sink === null || left) {
    leave();
    return null;
  }
  attached = true;
  hub.attach(ch, sink);
  return { ch, sink };
}

/**
 * attachViewer for a viewer on an HTTP response (SSE, long-poll, a waiting completion): counted
 * by the request's address, gone once the response is closed. When nothing was attached because
 * the client left, the reply is hijacked (nobody to answer); otherwise the caller has answered.
 */
export async function attachHttpViewer<S extends Sink>(
  deps: AttachDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  v: Omit<ViewerRequest<S>, 'ip' | 'gone'>,
): Promise<{ ch: Channel; sink: S } | null> {
  const attached = await attachViewer(deps, { ...v, ip: req.ip, gone: () => reply.raw.destroyed });
  if (!attached && !reply.sent) reply.hijack();
  return attached;
}
