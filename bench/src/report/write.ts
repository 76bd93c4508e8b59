import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult } from '../results.js';
import { chart } from './svg.js';
import { markdown } from './table.js';
import { checkTargets, type TargetCheck, targetsMarkdown } from './targets.js';

/** Everything a run writes: the raw JSON and the views of it. */
export interface Report {
  date: string;
  seconds: number;
  machine: { cpus: number; node: string } & Record<string, unknown>;
  options: { reps: number; peers: string[] } & Record<string, unknown>;
  targets: TargetCheck[];
  redisNotes: Record<string, number>;
  results: CaseResult[];
}

export function stampOf(date: string): string {
  return date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
}

/** latest.md (tables and targets) and latest.svg (the chart) from a report. */
export function writeViews(outDir: string, r: Report): string {
  const tables = markdown(r.results);
  const md = `${tables}\n### Targets\n\n${targetsMarkdown(r.targets)}\n`;
  writeFileSync(join(outDir, 'latest.md'), md);
  const m = r.machine;
  const subtitle = `tokencast bench, ${stampOf(r.date)}: ${m.cpus} cores, Node ${m.node}, median of ${r.options.reps} (whiskers: min–max)`;
  writeFileSync(join(outDir, 'latest.svg'), chart(r.results, r.options.peers, subtitle));
  return md;
}

export function writeReport(outDir: string, r: Report): string {
  const json = `${JSON.stringify(r, null, 2)}\n`;
  writeFileSync(join(outDir, `${stampOf(r.date)}.json`), json);
  writeFileSync(join(outDir, 'latest.json'), json);
  return writeViews(outDir, r);
}

export { checkTargets };
