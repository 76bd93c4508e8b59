import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { edgeConfigFromEnv } from '@tokencast/edge';
import { configSections, embeddedConfig } from '@tokencast/embedded';
import { ConfigError } from '@tokencast/engine';
import { workerOptionsFromEnv } from '@tokencast/producer';
import { bool, configTable, int, list, readOptions, routingConfig } from '@tokencast/runtime';
import { describe, expect, it } from 'vitest';
import { withTable } from '../../scripts/docs-config.js';
import { EDGE_MAIN, EMBEDDED_MAIN, PRODUCER_MAIN, ROOT, startProcess } from '../support/processes.js';

/** One typed config per process: declared once, read once, documented from the declarations. */
describe('configuration', () => {
  it("README.md's configuration table is the one the declarations generate (npm run docs:config rewrites it)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(withTable(readme, configTable(configSections))).toBe(readme);
  });

  it('no variable is declared twice, and every one has a why', () => {
    const names = configSections.flatMap((s) => Object.values(s.options).map((o) => o.env));
    expect(new Set(names).size).toBe(names.length);
    for (const s of configSections) for (const o of Object.values(s.options)) expect(o.why.length, o.env).toBeGreaterThan(10);
  });

  it('nothing outside the config loader reads process.env (apps and packages, the CLI aside)', () => {
    const readers: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && readFileSync(p, 'utf8').includes('process.env')) readers.push(p.slice(ROOT.length));
      }
    };
    for (const root of ['apps', 'packages']) {
      for (const pkg of readdirSync(join(ROOT, root))) {
        const src = join(ROOT, root, pkg, 'src');
        if (pkg !== 'cli' && statSync(src, { throwIfNoEntry: false })?.isDirectory()) walk(src);
      }
    }
    expect(readers).toEqual(['packages/runtime/src/config/load.ts']);
  });

  it('one boolean parser: true/1/yes and false/0/no in any case; anything else names the variable', () => {
    const flag = { on: bool('FLAG', { default: false, why: 'a test flag' }) };
    for (const v of ['true', '1', 'yes', 'TRUE', 'Yes']) expect(readOptions(flag, { FLAG: v }).on).toBe(true);
    for (const v of ['false', '0', 'no', 'NO']) expect(readOptions(flag, { FLAG: v }).on).toBe(false);
    expect(readOptions(flag, {}).on).toBe(false);
    expect(readOptions(flag, { FLAG: '' }).on).toBe(false);
    expect(() => readOptions(flag, { FLAG: 'maybe' })).toThrow(new ConfigError('FLAG must be true or false (or 1/0, yes/no), got "maybe"'));
    // The options that used to have parsers of their own use it too.
    expect(edgeConfigFromEnv({ EDGE_DEBUG_STATS: 'true' }).debugStats).toBe(true);
    expect(edgeConfigFromEnv({ EDGE_DEBUG_STATS: '1' }).debugStats).toBe(true);
    expect(edgeConfigFromEnv({ AUTH_REQUIRED: 'yes' }).authRequired).toBe(true);
    expect(() => edgeConfigFromEnv({ AUTH_REQUIRED: 'sure' })).toThrow(/^AUTH_REQUIRED must be/);
  });

  it('integers are checked against their bounds; lists keep "unset" apart from "empty"', () => {
    const set = { n: int('N', { default: 5, min: 1, max: 10, why: 'a test number' }), l: list('L', { default: ['a'], why: 'a test list' }) };
    expect(readOptions(set, {})).toEqual({ n: 5, l: ['a'] });
    expect(readOptions(set, { N: '10', L: ' b , c,,b ' })).toEqual({ n: 10, l: ['b', 'c'] });
    expect(readOptions(set, { L: '' }).l).toEqual([]);
    for (const bad of ['0', '11', '1.5', 'ten']) expect(() => readOptions(set, { N: bad })).toThrow(`N must be an integer between 1 and 10, got "${bad}"`);
    // MOCK_MODELS="" serves no mock; unset serves "mock".
    expect(routingConfig({}).serves('mock')).toBe(true);
    expect(routingConfig({ MOCK_MODELS: '' }).serves('mock')).toBe(false);
  });

  it('TRUST_PROXY is a boolean or a list of proxies; derived settings follow the ones they derive from', () => {
    expect(edgeConfigFromEnv({}).trustProxy).toBe(false);
    expect(edgeConfigFromEnv({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(edgeConfigFromEnv({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(edgeConfigFromEnv({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16' }).trustProxy).toEqual(['10.0.0.1', '10.1.0.0/16']);
    expect(edgeConfigFromEnv({ GENERATION_TTL_SECONDS: '60' }).readTokenTtlSeconds).toBe(60);
    expect(edgeConfigFromEnv({ GENERATION_TTL_SECONDS: '60', READ_TOKEN_TTL_SECONDS: '30' }).readTokenTtlSeconds).toBe(30);
    expect(workerOptionsFromEnv({ REDIS_BLOCK_MS: '250' }).takeBlockMs).toBe(250);
    expect(() => workerOptionsFromEnv({ PRODUCER_QUEUES: 'gpu,no way' })).toThrow(/^PRODUCER_QUEUES must be a list of queue names/);
    expect(() => workerOptionsFromEnv({ RECLAIM_POLICY: 'retry' })).toThrow('RECLAIM_POLICY must be one of continue, fail, got "retry"');
  });

  it('npm start reads one object: the edge, the producer and the shared settings', () => {
    const c = embeddedConfig({ PORT: '9000', PRODUCER_CONCURRENCY: '3', LOG_LEVEL: 'warn', DURABLE_STREAMS_BASE: '/streams/' });
    expect(c.edge.port).toBe(9000);
    expect(c.producer.worker.concurrency).toBe(3);
    expect(c.process.logLevel).toBe('warn');
    expect(c.engine.redisUrl).toBeNull();
    expect(c.edge.durable.base).toBe('/streams');
    expect(() => embeddedConfig({ LOG_LEVEL: 'loud' })).toThrow(/^LOG_LEVEL must be one of/);
  });

  it.each([
    ['npm start', EMBEDDED_MAIN, { MOCK_TTFT_MS: 'soon' }, /"msg":"MOCK_TTFT_MS must be an integer between 0 and \d+, got \\"soon\\""/],
    ['an edge', EDGE_MAIN, { REDIS_URL: 'redis://127.0.0.1:1', HEARTBEAT_MS: '5' }, /"msg":"HEARTBEAT_MS must be an integer between 10 and/],
    ['a producer', PRODUCER_MAIN, { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER: 'maybe' }, /"msg":"REDIS_CLUSTER must be true or false/],
    ['an edge without Redis', EDGE_MAIN, {}, /"msg":"REDIS_URL is not set/],
  ])('%s with a bad value stops at once with one line naming the variable', async (_who, main, env, line) => {
    const p = await startProcess(main, env, [], { waitForHttp: false });
    expect(await p.exited).toBe(1);
    const lines = p.logs().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });
});
