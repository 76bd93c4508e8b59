import { NOT_APPLICABLE } from '../applicability.js';
import type { Loads, Targets } from '../harness.js';
import type { Options, ScenarioName } from '../options.js';
import type { PeerName } from '../peers/names.js';
import type { BenchRedis } from '../redis.js';
import { type CaseResult, finish, type Run } from '../results.js';

export interface Bench {
  opts: Options;
  redis: BenchRedis;
  loads: Loads;
  targets: Targets;
  results: CaseResult[];
  log(msg: string): void;
}

export function peersFor(b: Bench, scenario: ScenarioName): PeerName[] {
  return b.opts.peers.filter((p) => !NOT_APPLICABLE[scenario]?.[p]);
}

export function recordNotApplicable(b: Bench, scenario: ScenarioName, label: string): void {
  for (const p of b.opts.peers) {
    const why = NOT_APPLICABLE[scenario]?.[p];
    if (why) b.results.push(finish({ scenario, label, params: {}, peer: p, status: 'n/a', note: why, runs: [] }));
  }
}

/** Collects the repetitions of each (case, peer) and turns them into results. */
export class Cases {
  private readonly runs = new Map<string, { label: string; params: Record<string, number>; peer: PeerName; runs: Run[]; errors: string[] }>();

  constructor(
    private readonly b: Bench,
    private readonly scenario: ScenarioName,
  ) {}

  add(label: string, params: Record<string, number>, peer: PeerName, run: Run | Error): void {
    const key = `${label}\u0000${peer}`;
    let c = this.runs.get(key);
    if (!c) this.runs.set(key, (c = { label, params, peer, runs: [], errors: [] }));
    if (run instanceof Error) c.errors.push(run.message.split('\n')[0] ?? run.message);
    else c.runs.push(run);
    const r = run instanceof Error ? `FAILED ${run.message.split('\n')[0]}` : describe(run);
    this.b.log(`  ${this.scenario} ${label} ${peer}: ${r}`);
  }

  flush(): void {
    for (const c of this.runs.values()) {
      const failed = c.runs.length === 0;
      this.b.results.push(
        finish({
          scenario: this.scenario,
          label: c.label,
          params: c.params,
          peer: c.peer,
          status: failed ? 'failed' : 'ok',
          ...(c.errors.length ? { note: c.errors.join('; ') } : {}),
          runs: c.runs,
        }),
      );
    }
    this.runs.clear();
  }
}

function describe(r: Run): string {
  const m = r.metrics;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(m)) parts.push(`${k}=${Number.isInteger(v) ? v : v.toPrecision(3)}`);
  const c = r.checks;
  parts.push(`complete=${c.complete}/${c.clients}`, `identical=${c.identical}`);
  if (c.problems.length) parts.push(`problems=${c.problems.slice(0, 2).join(' | ')}`);
  return parts.join(' ');
}

export function errorOf(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
