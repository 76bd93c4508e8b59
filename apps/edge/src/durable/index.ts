export { type DurableConfig, durableConfig, durableOptions } from './config.js';
export { durableRoutes } from './routes.js';
