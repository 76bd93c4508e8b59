export { workerOptionsFromEnv } from './config.js';
export { createLogger } from './logger.js';
export { catalogFromEnv, type ModelCatalog } from './providers/catalog.js';
export { UpstreamError } from './providers/errors.js';
export { fnv1a, MockProvider, mockNaturalLength, mockText, mockToken } from './providers/mock.js';
export { OpenAICompatibleProvider } from './providers/openai-compatible.js';
export type { Provider, ProviderEvent } from './providers/provider.js';
export { errInfo, type ReclaimPolicy, Worker, type WorkerOptions } from './worker.js';
export { GenerationWriter } from './writer.js';
