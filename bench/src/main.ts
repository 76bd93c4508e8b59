import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Loads, Targets } from './harness.js';
import { type Options, parseArgs, type ScenarioName, UsageError } from './options.js';
import { startRedis } from './redis.js';
import { checkTargets } from './report/targets.js';
import { type Report, stampOf, writeReport } from './report/write.js';
import type { CaseResult } from './results.js';
import type { Bench } from './scenarios/common.js';
import { fanout, many } from './scenarios/fanout.js';
import { idle } from './scenarios/idle.js';
import { late } from './scenarios/late.js';
import { producer } from './scenarios/producer.js';
import { slow } from './scenarios/slow.js';
import { openFilesLimit } from './sys.js';

/**
 * `npm run bench`: every scenario, for tokencast and every peer in the same run, against a
 * redis-server started here. Prints the tables, writes <out>/<date>.json, latest.json and
 * latest.svg.
 */
const RUNNERS: Record<ScenarioName, (b: Bench) => Promise<void>> = { fanout, many, idle, late, producer, slow };

function machine() {
  let redis = '';
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {}
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, redis, openFilesLimit: openFilesLimit(), loadAvgAtEnd: loadavg() };
}

async function main(opts: Options): Promise<void> {
  const started = new Date();
  const log = (msg: string) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
  // Redis serves naive's one connection per client too: as many clients as its descriptors allow.
  const redis = await startRedis(Math.max(1_000, openFilesLimit() - 64));
  const loads = new Loads(4);
  const results: CaseResult[] = [];
  let redisNotes: Record<string, number> = {};
  const targets = new Targets(redis, opts.profile ? join(opts.outDir, 'profiles') : null);
  const bench: Bench = { opts, redis, loads, targets, results, log };
  const loadAtStart = loadavg();
  log(`bench (${opts.preset}, ${opts.reps} rep${opts.reps > 1 ? 's' : ''}) on ${redis.url}; peers: ${opts.peers.join(', ')}`);
  try {
    for (const s of opts.scenarios) {
      log(`scenario ${s}`);
      await RUNNERS[s](bench);
    }
  } finally {
    await targets.stopAll();
    await loads.stop();
    redisNotes = redis.notes();
    await redis.stop();
  }
  for (const [msg, n] of Object.entries(redisNotes)) log(`redis-server said ${n}×: ${msg}`);
  const report: Report = {
    date: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    machine: { ...machine(), loadAvgAtStart: loadAtStart },
    options: { preset: opts.preset, reps: opts.reps, scenarios: opts.scenarios, peers: opts.peers, sizes: opts.sizes },
    targets: checkTargets(results),
    redisNotes,
    results,
  };
  mkdirSync(opts.outDir, { recursive: true });
  console.log(`\n${writeReport(opts.outDir, report)}`);
  log(`wrote ${join(opts.outDir, `${stampOf(report.date)}.json`)}, latest.json, latest.md, latest.svg`);
}

const defaultOut = fileURLToPath(new URL('../results', import.meta.url));
let opts: Options;
try {
  opts = parseArgs(process.argv.slice(2), defaultOut);
} catch (e) {
  if (e instanceof UsageError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
main(opts).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
