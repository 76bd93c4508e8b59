import type { PeerName } from '../peers/names.js';
import type { Run } from '../results.js';
import { type Bench, Cases, errorOf, peersFor } from './common.js';
import { liveRun } from './live.js';

/**
 * 1 fast client alone, then 1 fast client + S stalled ones (they stop reading after the
 * headers), each on a fresh server: the fast client's p99 and the server's peak memory, and what
 * the stalled clients changed. A stalled loopback socket swallows megabytes before the server
 * sees any backpressure, so a burst of tokens first fills those buffers; the fast client's
 * latency is measured on the tokens paced after it.
 */
export async function slow(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'slow');
  const S = sizes.slowStalled;
  const label = `1 fast + ${S} stalled`;
  const params = { stalled: S, rate: sizes.slowRate, tokens: sizes.slowTokens, burst: sizes.slowBurst };
  const once = async (peer: PeerName, stalled: number): Promise<Run> => {
    const t = await b.targets.fresh(peer);
    try {
      return await liveRun(b, t, {
        gens: 1,
        watchers: 1,
        stalled,
        rate: sizes.slowRate,
        tokens: sizes.slowBurst + sizes.slowTokens,
        burst: sizes.slowBurst,
        gapMs: sizes.slowGapMs,
        processes: stalled > 0 ? 2 : 1,
      });
    } finally {
      await b.targets.retire(peer);
    }
  };
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const peer of peersFor(b, 'slow')) {
        try {
          const alone = await once(peer, 0);
          const crowd = await once(peer, S);
          const a = alone.metrics;
          const c = crowd.metrics;
          cases.add(label, params, peer, {
            metrics: {
              p99AloneMs: a.p99Ms as number,
              p99StalledMs: c.p99Ms as number,
              p99ChangePct: (100 * ((c.p99Ms as number) - (a.p99Ms as number))) / (a.p99Ms as number),
              rssAloneMiB: a.rssPeakMiB as number,
              rssStalledMiB: c.rssPeakMiB as number,
              kibPerStalled: (((c.rssPeakMiB as number) - (a.rssPeakMiB as number)) * 1024) / S,
              cpuPct: c.cpuPct as number,
            },
            checks: {
              clients: 1,
              complete: Math.min(alone.checks.complete, crowd.checks.complete),
              identical: alone.checks.identical && crowd.checks.identical,
              verified: crowd.checks.verified,
              problems: [...alone.checks.problems, ...crowd.checks.problems],
            },
          });
        } catch (e) {
          cases.add(label, params, peer, errorOf(e));
          await b.targets.drop(peer);
        }
      }
    }
  } finally {
    cases.flush();
  }
}
