export { type DurableConfig, durableConfig, durableOptions } from './config.js';
export { type DurableDeps, durableRoutes } from './routes.js';
