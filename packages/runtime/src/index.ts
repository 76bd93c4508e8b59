export { errInfo } from './err-info.js';
export { createLogger } from './logger.js';
export { metricsRegistry, registerQueueGauges } from './metrics.js';
export { createRouting, type DefaultUpstream, type ModelRoute, ModelRouting, type RoutingSources, routingFromEnv, type UpstreamRoute } from './routing.js';
export { onShutdown } from './shutdown.js';
