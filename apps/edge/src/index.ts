export { keysFromConfig } from './access/api-keys.js';
export { buildEdge, type Edge, type EdgeDeps } from './app.js';
export { type EdgeConfig, edgeConfigFromEnv, edgeOptions, edgeProcessConfig, edgeSections } from './config.js';
export { Hub } from './fanout/hub.js';
export { type ServeOptions, serveEdge } from './serve.js';
