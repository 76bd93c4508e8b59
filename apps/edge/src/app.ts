import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import cors from '@fastify/cors';
import type { Engine } from '@tokencast/engine';
import { type RequestLimits, ServiceUnavailableError } from '@tokencast/protocol';
import type { ModelRouting } from '@tokencast/runtime';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { Access } from './access/access.js';
import { ApiKeys } from './access/api-keys.js';
import { Limits } from './access/limits.js';
import { ReadTokens } from './access/read-token.js';
import type { EdgeConfig } from './config.js';
import { durableRoutes } from './durable/index.js';
import { ALLOWED_HEADERS as DURABLE_ALLOWED_HEADERS, EXPOSED_HEADERS as DURABLE_EXPOSED_HEADERS } from './durable/protocol.js';
import { Hub } from './fanout/hub.js';
import { edgeMetrics, metricsRoutes, registerEdgeGauges } from './metrics.js';
import { corsOptions } from './plugins/cors.js';
import errorsPlugin, { clientErrorHandler, frameworkErrors } from './plugins/errors.js';
import jsonBodyPlugin from './plugins/json-body.js';
import { ajvOptions, validationError } from './plugins/schemas.js';
import servicesPlugin from './plugins/services.js';
import completionRoutes from './routes/completions.js';
import debugRoutes from './routes/debug.js';
import generationRoutes from './routes/generations.js';
import healthRoutes from './routes/health.js';
import messagesRoutes from './routes/messages.js';
import pageRoutes from './routes/page.js';
import responsesRoutes from './routes/responses.js';
import wsRoutes from './routes/ws.js';
import { GenerationService } from './service.js';

export interface EdgeDeps {
  engine: Engine;
  /** Which models are served and on which queue (the edge builds no provider). */
  routing: ModelRouting;
  config: EdgeConfig;
  logger: Logger;
}

export interface Edge {
  app: FastifyInstance;
  hub: Hub;
  /** Stop taking streams, tell viewers to reconnect elsewhere, close. */
  drain(opts?: DrainOptions): Promise<void>;
}

export interface DrainOptions {
  /** How long /readyz answers 503 before the edge stops accepting connections, so that
   * balancers that poll readiness stop sending traffic first; 0: stop at once. ms. */
  delayMs?: number;
  /** How long requests still attached after the redirect (non-streaming completions waiting for
   * their end, WebSocket clients slow to leave) may take before they are cut; 0: cut at once. ms. */
  waitMs?: number;
}

export async function buildEdge(deps: EdgeDeps): Promise<Edge> {
  const { engine, routing, config, logger } = deps;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // One log line per request, written below when the response is over (streams included).
    logController: new LogController({ disableRequestLogging: true }),
    // requestTimeout bounds receiving the request only (slow bodies), never the streamed response;
    // connectionTimeout stays 0 because a socket's idle timer would cut long, quiet streams.
    requestTimeout: config.requestTimeoutMs,
    // Node checks those timeouts on this interval (default 30 s): tighten it so they bite on time.
    http: { connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs) },
    connectionTimeout: 0,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    trustProxy: config.trustProxy,
    // While draining, our own hook below answers 503 in the OpenAI shape with Retry-After.
    return503OnClosing: false,
    forceCloseConnections: true,
    // Errors raised before routing (malformed HTTP, over-long path ids) leave as OpenAI JSON too.
    clientErrorHandler,
    frameworkErrors,
    // Route schemas (plugins/schemas.ts): their failures are the API's usual 400s.
    ajv: ajvOptions,
    schemaErrorFormatter: validationError,
  });
  // Slow-header (slowloris) clients are cut after headersTimeout; it must not exceed requestTimeout.
  app.server.headersTimeout = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  if (config.maxConnections > 0) app.server.maxConnections = config.maxConnections;
  const hub = new Hub(engine.store, {
    windowSize: config.windowSize,
    windowBytes: config.windowBytes,
    readBatch: config.readBatch,
    heartbeatMs: config.heartbeatMs,
    lingerMs: config.lingerMs,
    livenessCheckMs: config.livenessCheckMs,
    onLag: (ms) => edgeMetrics.deliveryLag.observe(Math.max(0, ms)),
    presence: engine.presence,
    instance: config.instance,
    lastViewerGraceMs: config.lastViewerGraceMs,
  });
  registerEdgeGauges(hub, engine);
  let draining = false;
  const requestLimits: RequestLimits = { maxTokensCap: config.maxTokensCap, maxPromptChars: config.maxPromptChars, maxMediaBytes: config.maxMediaBytes };
  const service = new GenerationService(engine, routing);
  const secret = config.readTokenSecret ? Buffer.from(config.readTokenSecret) : randomBytes(32);
  const access = new Access(new ApiKeys(config.envKeys, engine.keys, config.authCacheMs), new ReadTokens(secret, config.readTokenTtlSeconds), {
    enabled: config.authRequired,
  });
  if (!config.authRequired) logger.warn('no API keys configured: the API is open to anyone who can reach it (set API_KEYS to require keys)');
  else if (!config.readTokenSecret) logger.warn('READ_TOKEN_SECRET is not set: read tokens are valid on this edge only');
  const limits = new Limits(engine.limiter, engine.queue, {
    requestsPerMinute: config.requestsPerMinute,
    streamsPerKey: config.streamsPerKey,
    streamsPerIp: config.streamsPerIp,
    maxQueueDepth: config.maxQueueDepth,
  });

  app.addHook('onRequest', async (req, reply) => {
    const started = performance.now();
    // A draining edge takes no new work; probes still answer (readyz says 503 by itself).
    if (draining && req.url !== '/healthz' && req.url !== '/readyz') throw new ServiceUnavailableError('this edge is shutting down; retry', 'draining', 1);
    reply.raw.once('close', () => {
      const gen = reply.raw.getHeader('x-generation-id');
      edgeMetrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.raw.statusCode) });
      if (reply.raw.statusCode === 503) edgeMetrics.storeErrors.inc();
      req.log.info(
        {
          method: req.method,
          url: req.url.split('?')[0],
          status: reply.raw.statusCode,
          ms: Math.round(performance.now() - started),
          ...(gen ? { gen } : {}),
          aborted: !reply.raw.writableFinished,
        },
        'request',
      );
    });
  });
  await app.register(servicesPlugin, {
    engine,
    store: engine.store,
    modelRouting: routing,
    config,
    hub,
    access,
    limits,
    service,
    requestLimits,
    isDraining: () => draining,
  });
  await app.register(errorsPlugin);
  await app.register(jsonBodyPlugin, { limit: config.bodyLimitBytes, maxDepth: config.maxJsonDepth });
  const corsOpts = corsOptions({ origins: config.corsOrigins, maxAgeSeconds: 600, allowHeaders: DURABLE_ALLOWED_HEADERS, exposeHeaders: DURABLE_EXPOSED_HEADERS });
  if (corsOpts) await app.register(cors, corsOpts);
  await app.register(completionRoutes);
  await app.register(generationRoutes);
  await app.register(messagesRoutes);
  await app.register(responsesRoutes);
  await app.register(healthRoutes);
  await app.register(wsRoutes);
  await app.register(metricsRoutes);
  await app.register(pageRoutes);
  if (config.debugStats) await app.register(debugRoutes);
  await app.register(durableRoutes);
  // Revoking a key ends what it holds open (its streams, and those of the read tokens it issued)
  // within AUTH_CACHE_MS: the revocation list is read on a timer well inside that bound.
  access.onRevoked((revoked) => {
    const ended = hub.failOwnedBy(revoked, 'key_revoked', 'the API key behind this stream was revoked');
    if (ended > 0) logger.info({ ended }, 'streams of revoked keys ended');
  });
  const revocationTimer = config.authRequired ? setInterval(() => void access.checkRevocations().catch(() => {}), Math.max(100, Math.floor(config.authCacheMs / 2))) : null;
  revocationTimer?.unref();
  app.addHook('onClose', async () => {
    if (revocationTimer) clearInterval(revocationTimer);
    await hub.close();
  });

  return {
    app,
    hub,
    async drain(opts: DrainOptions = {}) {
      draining = true;
      if (opts.delayMs) await sleep(opts.delayMs);
      // No new connections: a balancer's connect is refused and it picks another edge. (Fastify's
      // close below calls close again; the second call's ERR_SERVER_NOT_RUNNING is ignored.)
      if (app.server.listening) app.server.close(() => {});
      hub.redirectAll(config.reconnectRetryMs);
      const deadline = Date.now() + (opts.waitMs ?? 0);
      while (hub.sinkCount > 0 && Date.now() < deadline) {
        // An idle keep-alive connection could still bring a new request: close those as they appear.
        app.server.closeIdleConnections();
        await sleep(50);
      }
      // Viewers that attached while the redirect went out get it too, rather than a cut connection.
      hub.redirectAll(config.reconnectRetryMs);
      await app.close();
    },
  };
}
