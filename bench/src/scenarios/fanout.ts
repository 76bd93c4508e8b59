import type { PeerName } from '../peers/names.js';
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

/** Many concurrent generations with a few watchers each. */
export async function many(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'many');
  const label = `${sizes.manyGens}×${sizes.manyWatchers}`;
  const params = { gens: sizes.manyGens, watchers: sizes.manyWatchers, rate: sizes.manyRate, tokens: sizes.manyTokens };
  const spec: LiveSpec = { gens: sizes.manyGens, watchers: sizes.manyWatchers, stalled: 0, rate: sizes.manyRate, tokens: sizes.manyTokens, processes: 2 };
  try {
    for (let rep = 0; rep < reps; rep++) await eachPeer(b, cases, label, params, spec, peersFor(b, 'many'));
  } finally {
    cases.flush();
  }
}
