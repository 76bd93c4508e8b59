import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources: no build in the inner loop. Spawned processes use dist/.
    alias: {
      '@tokencast/protocol': src('./packages/protocol/src/index.ts'),
      '@tokencast/engine': src('./packages/engine/src/index.ts'),
      '@tokencast/runtime': src('./packages/runtime/src/index.ts'),
      '@tokencast/producer': src('./apps/producer/src/index.ts'),
      '@tokencast/edge': src('./apps/edge/src/index.ts'),
      '@tokencast/embedded': src('./apps/embedded/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/chaos/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core machines: real Redis and server processes per file; too many at once only adds noise.
    maxWorkers: 2,
  },
});
