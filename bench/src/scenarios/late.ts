import { setTimeout as sleep } from 'node:timers/promises';
import { nowUs } from '../clock.js';
import { newGens } from '../harness.js';
import { transportOf } from '../peers/names.js';
import { callsBetween, commandCalls } from '../redis.js';
import { cpuSeconds } from '../sys.js';
import { type Bench, Cases, errorOf, peersFor, recordNotApplicable } from './common.js';
import { textCheck } from './live.js';

/** How long the clients may take; a peer still short of the whole text then is reported incomplete. */
const LATE_DEADLINE_MS = 40_000;

/**
 * Late joiners: a completed generation of T tokens, then C clients ask for it at the same
 * moment (their connections are open beforehand, so the accept backlog plays no part): time
 * until every one of them has the whole text.
 */
export async function late(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'late');
  const C = sizes.lateClients;
  const T = sizes.lateTokens;
  const label = `${C} join ${T} tokens`;
  const params = { clients: C, tokens: T };
  recordNotApplicable(b, 'late', label);
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const peer of peersFor(b, 'late')) {
        try {
          const t = await b.targets.get(peer);
          const [gen] = newGens(1) as [string];
          const digest = await t.writer.bulk(gen, T);
          await b.loads.open({ transport: transportOf(peer), url: t.server.url, gens: [gen], count: C, expected: T, stalled: 0, verify: 1, deferred: true, processes: 2 });
          await sleep(200);
          const pid = t.server.pid;
          const callsBefore = await commandCalls(b.redis.admin);
          const cpuBefore = cpuSeconds(pid);
          const goUs = nowUs();
          await b.loads.go();
          const completed = await b.loads.waitComplete(LATE_DEADLINE_MS);
          const wall = (nowUs() - goUs) / 1e6;
          const cpu = cpuSeconds(pid) - cpuBefore;
          const calls = callsBetween(callsBefore, await commandCalls(b.redis.admin));
          const d = await b.loads.collect();
          await b.loads.closeAll();
          const text = textCheck(d, { [gen]: digest }, T);
          const times = d.completeAtUs.map((us) => (us - goUs) / 1000).sort((x, y) => x - y);
          // Only when every client has everything is there a time until all have it.
          const allMs = times.length === C ? (times[times.length - 1] as number) : Number.NaN;
          const problems = [...text.problems];
          if (!completed) problems.unshift('not every client had the whole text before the deadline');
          cases.add(label, params, peer, {
            metrics: {
              allMs,
              // Median over all clients (those that never finished count as the slowest).
              p50Ms: times[Math.floor(C / 2)] ?? Number.NaN,
              eventsPerSec: d.delivered / (Number.isFinite(allMs) ? allMs / 1000 : wall),
              cpuPct: (100 * cpu) / wall,
              redisPerEvent: Object.values(calls).reduce((a, n) => a + n, 0) / Math.max(1, d.delivered),
            },
            checks: { clients: C, complete: d.complete, identical: text.identical, verified: d.verified, problems },
          });
        } catch (e) {
          cases.add(label, params, peer, errorOf(e));
          await b.loads.closeAll().catch(() => {});
          await b.targets.drop(peer);
        }
      }
    }
  } finally {
    cases.flush();
  }
}
