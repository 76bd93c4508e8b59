import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../packages/engine/src/index.js';
import { clusterSeeds } from '../../packages/engine/src/redis/connection.js';
import { engineConfig } from '../../packages/runtime/src/index.js';

describe('Redis Cluster configuration', () => {
  it('REDIS_CLUSTER=true takes REDIS_URL as comma-separated seed nodes', () => {
    const c = engineConfig({ REDIS_URL: 'redis://a:7000, redis://b:7001', REDIS_CLUSTER: 'true', REDIS_CLUSTER_BELLS: '4' });
    expect(c).toMatchObject({ cluster: true, clusterBells: 4, redisUrl: 'redis://a:7000, redis://b:7001' });
    expect(engineConfig({ REDIS_URL: 'redis://a:7000' })).toMatchObject({ cluster: false, clusterBells: 8 });
    expect(engineConfig({ REDIS_URL: 'redis://a:7000', REDIS_CLUSTER: '0' }).cluster).toBe(false);
  });

  it('credentials and TLS come from the first seed; the default port is 6379', () => {
    expect(clusterSeeds('rediss://user:p%40ss@h1,redis://h2:7002/0')).toEqual({
      nodes: [
        { host: 'h1', port: 6379 },
        { host: 'h2', port: 7002 },
      ],
      auth: { username: 'user', password: 'p@ss', tls: {} },
    });
  });

  it('refuses what would silently do the wrong thing', () => {
    // Several servers without cluster mode: only the first would be used.
    expect(() => engineConfig({ REDIS_URL: 'redis://a:7000,redis://b:7001' })).toThrow(ConfigError);
    expect(() => engineConfig({ REDIS_CLUSTER: 'true' })).toThrow(ConfigError);
    expect(() => engineConfig({ REDIS_URL: 'redis://a:7000', REDIS_CLUSTER: 'maybe' })).toThrow(ConfigError);
    // A cluster has only database 0.
    expect(() => engineConfig({ REDIS_URL: 'redis://a:7000/2', REDIS_CLUSTER: 'true' })).toThrow(/database 0/);
    expect(() => engineConfig({ REDIS_URL: 'http://a:7000', REDIS_CLUSTER: 'true' })).toThrow(ConfigError);
    expect(() => engineConfig({ REDIS_URL: ' , ', REDIS_CLUSTER: 'true' })).toThrow(ConfigError);
  });
});
