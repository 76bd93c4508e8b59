export { loadConfig } from './config/load.js';
export {
  bool,
  type ConfigSection,
  configTable,
  custom,
  type Env,
  int,
  list,
  num,
  type Option,
  type OptionSet,
  type Options,
  oneOf,
  optional,
  parseBool,
  readOptions,
  str,
} from './config/options.js';
export {
  engineConfig,
  engineOptions,
  type ProcessConfig,
  processOptions,
  routingConfig,
  routingOptions,
  type SharedConfig,
  sharedConfig,
  sharedSections,
} from './config/shared.js';
export { errInfo } from './err-info.js';
export { createLogger } from './logger.js';
export { metricsRegistry, registerQueueGauges, scrapedCounter, scrapedGauge } from './metrics.js';
export { createRouting, type DefaultUpstream, type ModelRoute, ModelRouting, type RoutingSources, type UpstreamRoute } from './routing.js';
export { onShutdown } from './shutdown.js';
export { type StartOptions, startProcess } from './start.js';
