import websocket from '@fastify/websocket';
import { InvalidRequestError, isGenerationId, isObject, NotFoundError, parseOffset, TokencastError } from '@tokencast/protocol';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Principal } from '../access/access.js';
import { attachViewer } from '../fanout/attach.js';
import { WsSink } from '../fanout/ws-sink.js';
import { type RoutePlugin, tokenQueryParam } from '../plugins/schemas.js';

/** Close codes: 4008 stalled (resume from your offsets), 4029 too many messages, 1009 too large (ws). */
const STALLED = 4008;
const FLOODED = 4029;

/**
 * GET /v1/ws: many generations over one socket, each from any offset.
 *   → {"type":"subscribe","gen":"gen_…","from":0}   → {"type":"unsubscribe","gen":"gen_…"}
 *   ← {"type":"event","gen","offset","data":[…same payloads as SSE…],"end":bool}
 *   ← {"type":"error","gen"?,"code","message","retryable"}   ← {"type":"reconnect","gen","retry_ms","offset"}
 * A client that reconnects resubscribes with from = the last offset it received, per generation.
 */
const wsRoutes: RoutePlugin = async (app) => {
  const { store, config, access } = app;
  await app.register(websocket, {
    options: { maxPayload: config.wsMaxPayloadBytes },
    // Sockets are closed by our drain (reconnect hints first), then by the plugin.
  });
  const sockets = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();
  const pinger = setInterval(() => {
    for (const s of sockets) {
      if (alive.get(s) === false) {
        s.terminate(); // no pong since the last ping: the peer is gone
        continue;
      }
      alive.set(s, false);
      s.ping();
    }
  }, config.heartbeatMs);
  pinger.unref();
  app.addHook('onClose', async () => clearInterval(pinger));

  // Credentials are checked before the upgrade (a bad key gets an HTTP 401, not a socket).
  const principals = new WeakMap<FastifyRequest, Principal>();
  const preValidation = async (req: FastifyRequest) => {
    // A plain GET (no Upgrade) would get the plugin's empty 404: say what this endpoint is.
    if (!req.ws) throw new TokencastError(426, 'invalid_request_error', 'upgrade_required', 'this endpoint is a WebSocket: send Upgrade: websocket');
    checkOrigin(req, config.wsAllowedOrigins);
    principals.set(req, await access.identify(req));
  };

  const querystring = { type: 'object', properties: { token: tokenQueryParam } } as const;
  app.get('/v1/ws', { websocket: true, preValidation, schema: { querystring } }, (socket, req) => {
    const socketPrincipal = principals.get(req) ?? ({ kind: 'anonymous' } as Principal);
    sockets.add(socket);
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    const subs = new Map<string, WsSink>();
    let windowStart = Date.now();
    let messages = 0;

    const reply = (msg: Record<string, unknown>) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
    };

    /**
     * Subscriptions being set up (between the checks below and the sink's attach, across
     * awaits). They count toward the cap from the first synchronous step: a check before an
     * await and an insert after it would let a burst through (PITFALLS "Check, await, insert").
     */
    const pending = new Set<string>();

    const subscribe = async (gen: unknown, fromRaw: unknown, token: unknown) => {
      if (!isGenerationId(gen)) return reply({ type: 'error', gen: null, code: 'generation_not_found', message: 'No generation with that id', retryable: false });
      if (subs.has(gen) || pending.has(gen)) return reply({ type: 'error', gen, code: 'already_subscribed', message: 'already subscribed to this generation', retryable: false });
      if (subs.size + pending.size >= config.wsMaxSubscriptions)
        return reply({ type: 'error', gen, code: 'too_many_subscriptions', message: `at most ${config.wsMaxSubscriptions} per socket`, retryable: false });
      pending.add(gen);
      try {
        const from = fromRaw === undefined || fromRaw === null ? 0 : parseOffset(String(fromRaw), 'from');
        // A subscription may carry its own read token (one socket, generations shared by different links).
        const principal = typeof token === 'string' && socketPrincipal.kind === 'anonymous' ? await access.identify(req, token) : socketPrincipal;
        access.requireAny(principal);
        await attachViewer(app, {
          id: gen,
          principal,
          ip: req.ip,
          notFound: () => new NotFoundError('No generation with that id', 'generation_not_found'),
          gone: () => socket.readyState !== socket.OPEN || subs.has(gen),
          check: async (ch) => {
            if (from > ch.lastOffset) {
              // The channel may lag the store (another edge served this client further): ask it.
              const last = (await store.getMeta(gen))?.lastOffset ?? ch.lastOffset;
              if (from > last) throw new InvalidRequestError(`offset ${from} is beyond the newest event (${last})`, 'offset_out_of_range', { param: 'from' });
            }
            if (ch.ended && from >= ch.lastOffset) {
              // Nothing left to send: end it now, as SSE does with [DONE], instead of holding a
              // sink, a slot and a channel for a generation that will never write again.
              reply({ type: 'event', gen, offset: from, data: [], end: true });
              return false;
            }
            return true;
          },
          open: (ch, leave) => {
            const sink = new WsSink(socket, ch, from, {
              maxBufferedBytes: config.wsMaxBufferedBytes,
              stallTimeoutMs: config.stallTimeoutMs,
              onStall: () => {
                socket.close(STALLED, 'stalled: resubscribe from your last offsets');
                // A peer that reads nothing will not read the close frame either: cut it shortly after.
                setTimeout(() => socket.terminate(), 1_000).unref();
              },
              onEnd: () => {
                subs.delete(gen);
                leave();
              },
            });
            subs.set(gen, sink);
            return sink;
          },
        });
      } catch (err) {
        const e = err instanceof NotFoundError ? new NotFoundError('No generation with that id', 'generation_not_found') : err;
        const known = e instanceof TokencastError;
        if (!known) req.log.warn({ err }, 'websocket subscribe failed');
        reply({ type: 'error', gen, code: known ? e.code : 'internal_error', message: known ? e.message : 'internal error', retryable: !known || e.statusCode >= 500 });
      } finally {
        pending.delete(gen);
      }
    };

    socket.on('message', (raw, isBinary) => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        messages = 0;
      }
      if (++messages > config.wsMaxMessagesPerSecond) {
        socket.close(FLOODED, 'too many messages');
        return;
      }
      let parsed: unknown;
      try {
        parsed = isBinary ? null : JSON.parse(raw.toString());
      } catch {}
      if (typeof parsed !== 'object' || parsed === null) {
        return reply({ type: 'error', code: 'invalid_message', message: 'send JSON text messages: {"type":"subscribe","gen":"gen_…","from":0}', retryable: false });
      }
      // An array has no fields: its type is not subscribe or unsubscribe.
      const msg = isObject(parsed) ? parsed : {};
      if (msg.type === 'subscribe') void subscribe(msg.gen, msg.from, msg.token);
      else if (msg.type === 'unsubscribe') {
        if (typeof msg.gen === 'string') subs.get(msg.gen)?.close();
      } else reply({ type: 'error', code: 'invalid_message', message: 'type must be subscribe or unsubscribe', retryable: false });
    });

    socket.on('close', () => {
      sockets.delete(socket);
      for (const s of [...subs.values()]) s.close();
    });
    socket.on('error', () => {}); // a peer that vanishes uncleanly; 'close' follows
  });
};

export default wsRoutes;

function checkOrigin(req: FastifyRequest, allowed: string[]): void {
  const origin = req.headers.origin;
  // Non-browser clients send no Origin; browsers always do, and only listed origins (or this
  // host itself) may open a socket, so a foreign page cannot ride a user's credentials.
  if (origin === undefined) return;
  if (allowed.includes('*') || allowed.includes(origin)) return;
  try {
    if (new URL(origin).host === req.headers.host) return;
  } catch {}
  throw new TokencastError(403, 'permission_error', 'origin_not_allowed', 'this Origin may not open a WebSocket here');
}
