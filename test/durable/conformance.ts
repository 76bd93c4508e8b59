import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll } from 'vitest';

/**
 * The Durable Streams conformance suite (@durable-streams/server-conformance-tests, pinned in
 * package.json), run inside our own vitest run against a live setup. This is the package's
 * documented programmatic entry (its dist/test-runner.js does the same with CONFORMANCE_TEST_URL);
 * calling it from a test file keeps it in `npm test` with no node_modules include to maintain.
 *
 * The suite addresses `<url>/v1/stream/<name>`: with the default DURABLE_STREAMS_BASE
 * (/v1/stream) the URL is the edge's (or nginx's) root.
 */
export interface Setup {
  url: string;
  /** Checks on the setup once the suite ran (throws to fail the file). */
  verify?(): void;
  stop(): Promise<void>;
}

/**
 * Settings every conformance setup runs with: short long-polls keep the suite quick; the suite
 * checks CORS answers from a browser origin, which CORS_ORIGINS turns on (default: off).
 */
export const CONFORMANCE_ENV: Record<string, string> = {
  DURABLE_STREAMS_LONG_POLL_MS: '1500',
  CORS_ORIGINS: '*',
  LOG_LEVEL: 'warn',
};

export function conformanceAgainst(start: () => Promise<Setup>): void {
  const options = { baseUrl: '' };
  let setup: Setup | null = null;
  beforeAll(async () => {
    setup = await start();
    options.baseUrl = setup.url;
  });
  afterAll(async () => {
    try {
      setup?.verify?.();
    } finally {
      await setup?.stop();
    }
  });
  runConformanceTests(options);
}
