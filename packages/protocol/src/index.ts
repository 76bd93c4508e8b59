export * from './anthropic.js';
export * from './errors.js';
export * from './events.js';
export * from './ids.js';
export * from './meta.js';
export * from './offsets.js';
export * from './openai.js';
export * from './requests.js';
