import type { Engine, GenerationStore } from '@tokencast/engine';
import type { RequestLimits } from '@tokencast/protocol';
import type { ModelRouting } from '@tokencast/runtime';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Access } from '../access/access.js';
import type { Limits } from '../access/limits.js';
import type { EdgeConfig } from '../config.js';
import type { Hub } from '../fanout/hub.js';
import type { GenerationService } from '../service.js';

/**
 * What the routes work with, built once per edge (app.ts) and decorated on the root instance,
 * so every route plugin reads `app.hub`, `app.access`, … instead of being handed a deps object.
 */
export interface EdgeServices {
  engine: Engine;
  /** The generation store (engine.store), which most routes read. */
  store: GenerationStore;
  /** Which models are served and on which queue (the edge builds no provider). */
  modelRouting: ModelRouting;
  config: EdgeConfig;
  hub: Hub;
  access: Access;
  limits: Limits;
  service: GenerationService;
  /** Caps every parsed request is held to (MAX_TOKENS_CAP, MAX_PROMPT_CHARS, MAX_MEDIA_BYTES). */
  requestLimits: RequestLimits;
  /** True while the edge drains before exit: readiness fails and new work is refused. */
  isDraining(): boolean;
}

declare module 'fastify' {
  interface FastifyInstance extends EdgeServices {}
}

async function servicesPlugin(app: FastifyInstance, services: EdgeServices): Promise<void> {
  for (const [name, value] of Object.entries(services)) app.decorate(name, value);
}

export default fp(servicesPlugin, { name: 'tokencast-services' });
