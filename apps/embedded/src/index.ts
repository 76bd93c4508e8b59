export { configSections, embeddedConfig } from './config.js';
