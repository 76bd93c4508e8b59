export { type DurableConfig, durableConfigFromEnv } from './config.js';
export { type DurableDeps, durableRoutes } from './routes.js';
