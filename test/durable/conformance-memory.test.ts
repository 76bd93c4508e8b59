import { startEmbedded } from '../support/processes.js';
import { CONFORMANCE_ENV, conformanceAgainst } from './conformance.js';

// One embedded edge on the in-process memory engine (no REDIS_URL).
conformanceAgainst(async () => {
  const edge = await startEmbedded(CONFORMANCE_ENV);
  return { url: edge.url, stop: async () => void (await edge.kill('SIGTERM')) };
});
