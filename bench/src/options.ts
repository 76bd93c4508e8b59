import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPeer, PEERS, type PeerName } from './peers/names.js';

export const SCENARIOS = ['fanout', 'many', 'idle', 'late', 'producer', 'slow'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Sizes of every scenario; three presets (full, --quick, --smoke). */
export interface Sizes {
  fanoutClients: number[];
  /** Tokens/s of the fan-out generation and how many tokens it has. */
  fanoutRate: number;
  fanoutTokens: number;
  /** Latency at a rate a fast model writes (the throughput rate above saturates this machine). */
  latencyCases: { clients: number; rate: number; tokens: number }[];
  /** Followed generations per many case; all cases write the same total tokens/s (issue #13). */
  manyGens: number[];
  manyWatchers: number;
  /** Tokens/s summed over the generations of a many case. */
  manyTotalRate: number;
  /** Seconds each generation writes for. */
  manySeconds: number;
  /** Also run the many cases (tokencast only) on a local 3-master Redis Cluster. */
  manyCluster: boolean;
  idleTarget: number;
  lateClients: number;
  lateTokens: number;
  producerGens: number;
  producerTokens: number;
  slowStalled: number;
  slowRate: number;
  /** Tokens after the burst, at slowRate. */
  slowTokens: number;
  /** Tokens written at once first: enough bytes to fill a stalled client's socket buffers. */
  slowBurst: number;
  slowGapMs: number;
  /** Pause after clients join, before the clock starts (joins settle everywhere), ms. */
  settleMs: number;
  /** Pause after idle connections are open, before memory is read, ms. */
  idleSettleMs: number;
}

const FULL: Sizes = {
  fanoutClients: [1, 100, 1_000],
  fanoutRate: 1_000,
  fanoutTokens: 2_000,
  latencyCases: [{ clients: 1_000, rate: 100, tokens: 300 }],
  manyGens: [100, 1_000, 5_000],
  manyWatchers: 1,
  manyTotalRate: 2_000,
  manySeconds: 8,
  manyCluster: true,
  idleTarget: 20_000,
  lateClients: 1_000,
  lateTokens: 4_000,
  producerGens: 16,
  producerTokens: 20_000,
  slowStalled: 1_000,
  slowRate: 1_000,
  slowTokens: 2_000,
  slowBurst: 25_000,
  slowGapMs: 2_000,
  settleMs: 300,
  idleSettleMs: 1_500,
};

const QUICK: Sizes = {
  fanoutClients: [1, 100],
  fanoutRate: 1_000,
  fanoutTokens: 1_000,
  latencyCases: [{ clients: 100, rate: 100, tokens: 200 }],
  manyGens: [100, 1_000],
  manyWatchers: 1,
  manyTotalRate: 1_000,
  manySeconds: 4,
  manyCluster: true,
  idleTarget: 2_000,
  lateClients: 100,
  lateTokens: 1_000,
  producerGens: 4,
  producerTokens: 5_000,
  slowStalled: 100,
  slowRate: 1_000,
  slowTokens: 1_000,
  slowBurst: 25_000,
  slowGapMs: 1_500,
  settleMs: 300,
  idleSettleMs: 1_000,
};

const SMOKE: Sizes = {
  fanoutClients: [3],
  fanoutRate: 500,
  fanoutTokens: 50,
  latencyCases: [],
  manyGens: [4],
  manyWatchers: 2,
  manyTotalRate: 800,
  manySeconds: 0.1,
  manyCluster: false,
  idleTarget: 30,
  lateClients: 4,
  lateTokens: 100,
  producerGens: 2,
  producerTokens: 300,
  slowStalled: 3,
  slowRate: 500,
  slowTokens: 100,
  slowBurst: 100,
  slowGapMs: 100,
  settleMs: 100,
  idleSettleMs: 200,
};

export interface Options {
  preset: 'full' | 'quick' | 'smoke';
  reps: number;
  scenarios: ScenarioName[];
  peers: PeerName[];
  sizes: Sizes;
  /** Folder for <date>.json, latest.json and latest.svg. */
  outDir: string;
  /** Write a CPU profile of the tokencast edge per server start into <outDir>/profiles. */
  profile: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `npm run bench -- [flags]
  --quick            small sizes, 1 repetition (for development)
  --smoke            tiny sizes, 1 repetition (the test suite's run)
  --only a,b         scenarios: ${SCENARIOS.join(', ')}
  --peers a,b        peers: ${PEERS.join(', ')}
  --reps N           repetitions per case (default 3; 1 with --quick and --smoke)
  --big              fan-out also at 10 000 clients (throughput, and latency at 20 tokens/s)
  --rate N           fan-out tokens/s
  --clients a,b      fan-out client counts (instead of the preset's)
  --many a,b         followed generations of the many cases (instead of the preset's)
  --out DIR          results folder (default bench/results; with --smoke a temporary folder)
  --profile          write CPU profiles of the tokencast edge (node --cpu-prof) to DIR/profiles`;

export function parseArgs(argv: readonly string[], defaultOut: string): Options {
  let preset: Options['preset'] = 'full';
  let reps: number | null = null;
  let scenarios: ScenarioName[] = [...SCENARIOS];
  let peers: PeerName[] = [...PEERS];
  let big = false;
  let rate: number | null = null;
  let clients: number[] | null = null;
  let manyGens: number[] | null = null;
  let outDir: string | null = null;
  let profile = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const list = <T extends string>(raw: string, all: readonly T[], what: string): T[] => {
    const out = raw.split(',').map((s) => s.trim());
    for (const s of out) if (!(all as readonly string[]).includes(s)) throw new UsageError(`unknown ${what} ${JSON.stringify(s)}; known: ${all.join(', ')}`);
    return out as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    switch (a) {
      case '--quick':
        preset = 'quick';
        break;
      case '--smoke':
        preset = 'smoke';
        break;
      case '--big':
        big = true;
        break;
      case '--profile':
        profile = true;
        break;
      case '--only':
        scenarios = list(value(i++, a), SCENARIOS, 'scenario');
        break;
      case '--peers':
        peers = list(value(i++, a), PEERS, 'peer');
        if (!peers.every(isPeer)) throw new UsageError('bad --peers');
        break;
      case '--reps':
        reps = Number(value(i++, a));
        if (!Number.isInteger(reps) || reps < 1) throw new UsageError('--reps must be a positive integer');
        break;
      case '--rate':
        rate = Number(value(i++, a));
        if (!(rate > 0)) throw new UsageError('--rate must be positive');
        break;
      case '--clients':
        clients = value(i++, a)
          .split(',')
          .map((x) => Number(x.trim()));
        if (!clients.every((n) => Number.isInteger(n) && n > 0)) throw new UsageError('--clients takes positive integers');
        break;
      case '--many':
        manyGens = value(i++, a)
          .split(',')
          .map((x) => Number(x.trim()));
        if (!manyGens.every((n) => Number.isInteger(n) && n > 0)) throw new UsageError('--many takes positive integers');
        break;
      case '--out':
        outDir = value(i++, a);
        break;
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown flag ${a}\n${USAGE}`);
    }
  }
  const sizes = { ...(preset === 'full' ? FULL : preset === 'quick' ? QUICK : SMOKE) };
  if (big) {
    sizes.fanoutClients = [...sizes.fanoutClients, 10_000];
    sizes.latencyCases = [...sizes.latencyCases, { clients: 10_000, rate: 20, tokens: 100 }];
  }
  if (rate) sizes.fanoutRate = rate;
  if (clients) sizes.fanoutClients = clients;
  if (manyGens) sizes.manyGens = manyGens;
  // A smoke run must not overwrite the results the README shows.
  const out = outDir ?? (preset === 'smoke' ? join(tmpdir(), 'tokencast-bench-smoke') : defaultOut);
  return { preset, reps: reps ?? (preset === 'full' ? 3 : 1), scenarios, peers, sizes, outDir: out, profile };
}
