import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkTargets } from './report/targets.js';
import { type Report, writeViews } from './report/write.js';
import { finish } from './results.js';

/**
 * `node bench/dist/render.js bench/results/<date>.json`: redraw latest.md and latest.svg beside
 * it from the raw repetitions (summaries and targets are recomputed; the JSON is left as it is).
 */
const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/dist/render.js <results.json>');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
report.results = report.results.map(({ summary: _s, ...c }) => finish(c));
report.targets = checkTargets(report.results);
console.log(writeViews(dirname(file), report));
