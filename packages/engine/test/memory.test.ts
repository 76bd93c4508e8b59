import { createMemoryEngine } from '../src/index.js';
import { engineConformance } from './conformance.js';

engineConformance('memory', async (opts) => createMemoryEngine({ ttlSeconds: opts.ttlSeconds ?? 3_600 }));
