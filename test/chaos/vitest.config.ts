import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.js';

/**
 * The chaos suite's own run (`npm run test:chaos`, `npm run test:chaos:long`): the default run
 * excludes test/chaos, and merging that config would keep the exclusion, so only the aliases
 * are taken from it.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  resolve: base.resolve,
  test: {
    include: ['test/chaos/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 15 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One cluster at a time: the faults must be the only thing shaking the machine.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
