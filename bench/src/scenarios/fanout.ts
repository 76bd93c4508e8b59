import { Targets } from '../harness.js';
import type { PeerName } from '../peers/names.js';
import { asBenchRedis, startCluster } from '../redis-cluster.js';
import { finish } from '../results.js';
import { type Bench, Cases, errorOf, peersFor } from './common.js';
import { type LiveSpec, liveRun } from './live.js';

async function eachPeer(b: Bench, cases: Cases, label: string, params: Record<string, number>, spec: LiveSpec, peers: PeerName[]): Promise<void> {
  for (const peer of peers) {
    try {
      cases.add(label, params, peer, await liveRun(b, await b.targets.get(peer), spec));
    } catch (e) {
      cases.add(label, params, peer, errorOf(e));
      await b.targets.drop(peer);
    }
  }
}

/**
 * One generation to N clients. Throughput at a fixed high token rate (a peer that cannot keep
 * up delivers less per second), then latency at the rate of a fast model, which this 2-core
 * machine can deliver to every client without queueing in the load generators.
 */
export async function fanout(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'fanout');
  const peers = peersFor(b, 'fanout');
  const runs: [string, Record<string, number>, LiveSpec][] = [];
  for (const n of sizes.fanoutClients) {
    runs.push([
      `N=${n}`,
      { clients: n, rate: sizes.fanoutRate, tokens: sizes.fanoutTokens },
      { gens: 1, watchers: n, stalled: 0, rate: sizes.fanoutRate, tokens: sizes.fanoutTokens, processes: n >= 100 ? 2 : 1 },
    ]);
  }
  for (const l of sizes.latencyCases) {
    runs.push([
      `N=${l.clients} @${l.rate}/s`,
      { clients: l.clients, rate: l.rate, tokens: l.tokens },
      { gens: 1, watchers: l.clients, stalled: 0, rate: l.rate, tokens: l.tokens, processes: 2 },
    ]);
  }
  try {
    for (const [label, params, spec] of runs) {
      // Peers interleaved per repetition: whatever else the machine does hits them alike.
      for (let rep = 0; rep < reps; rep++) await eachPeer(b, cases, label, params, spec, peers);
    }
  } finally {
    cases.flush();
  }
}

/**
 * Many concurrent generations (issue #13): 100, 1 000 and 5 000 followed generations written at
 * the same total tokens/s, so what grows from case to case is only how many are followed. Redis
 * CPU µs and commands per token written show whether a wake costs what has news or what is
 * followed. Then the same for tokencast on a local 3-master Redis Cluster (its blocking reads).
 */
export async function many(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'many');
  const specOf = (gens: number): [Record<string, number>, LiveSpec] => {
    const rate = sizes.manyTotalRate / gens;
    const tokens = Math.max(2, Math.round(rate * sizes.manySeconds));
    return [
      { gens, watchers: sizes.manyWatchers, rate, tokens },
      { gens, watchers: sizes.manyWatchers, stalled: 0, rate, tokens, processes: 2 },
    ];
  };
  try {
    for (const gens of sizes.manyGens) {
      const [params, spec] = specOf(gens);
      for (let rep = 0; rep < reps; rep++) await eachPeer(b, cases, `${gens}×${sizes.manyWatchers}`, params, spec, peersFor(b, 'many'));
    }
  } finally {
    cases.flush();
  }
  if (!sizes.manyCluster || !b.opts.peers.includes('tokencast')) return;
  const cluster = asBenchRedis(await startCluster(3, 20_000));
  const targets = new Targets(cluster, null);
  const cb: Bench = { ...b, redis: cluster, targets };
  const ccases = new Cases(cb, 'many');
  try {
    for (const gens of sizes.manyGens) {
      const [params, spec] = specOf(gens);
      const label = `${gens}×${sizes.manyWatchers} cluster`;
      for (let rep = 0; rep < reps; rep++) await eachPeer(cb, ccases, label, { ...params, masters: 3 }, spec, ['tokencast']);
      for (const p of b.opts.peers) {
        if (p !== 'tokencast') b.results.push(finish({ scenario: 'many', label, params, peer: p, status: 'n/a', note: 'runs on one Redis only', runs: [] }));
      }
    }
  } finally {
    ccases.flush();
    await targets.stopAll();
    await cluster.stop();
  }
}
