export * from './contracts.js';
export * from './create.js';
export * from './durable.js';
export * from './errors.js';
export { createMemoryEngine, type MemoryEngineOptions } from './memory/engine.js';
export { eventToFields, fieldsToEvent, hashToMeta, metaToHash } from './redis/codec.js';
export { clusterSeeds } from './redis/connection.js';
export { createRedisEngine, type RedisEngineOptions } from './redis/engine.js';
export { Keys, PRODUCER_GROUP } from './redis/keys.js';
