import { setTimeout as sleep } from 'node:timers/promises';
import { newGens } from '../harness.js';
import { transportOf } from '../peers/names.js';
import { openFilesLimit, rssBytes } from '../sys.js';
import { type Bench, Cases, errorOf, peersFor } from './common.js';

/**
 * Idle capacity: how many idle connections one server process holds on a live generation that
 * is quiet, and its memory per connection (RSS growth / connections), each on a fresh server.
 * One process can have at most its open-files limit of sockets; the target is capped below it.
 */
export async function idle(b: Bench): Promise<void> {
  const { sizes, reps } = b.opts;
  const cases = new Cases(b, 'idle');
  const limit = openFilesLimit();
  const target = Math.min(sizes.idleTarget, limit - 64);
  if (target < sizes.idleTarget) b.log(`  idle: open-files limit is ${limit}: aiming at ${target} connections instead of ${sizes.idleTarget}`);
  const label = `${target} idle`;
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const peer of peersFor(b, 'idle')) {
        try {
          const t = await b.targets.fresh(peer);
          const gens = newGens(1);
          await t.writer.prepare(gens);
          await sleep(b.opts.sizes.settleMs);
          const before = rssBytes(t.server.pid);
          const t0 = performance.now();
          const open = await b.loads.open({
            transport: transportOf(peer),
            url: t.server.url,
            gens,
            count: target,
            expected: 0,
            stalled: 0,
            verify: 0,
            deferred: false,
            processes: 1,
          });
          const openSeconds = (performance.now() - t0) / 1000;
          await sleep(b.opts.sizes.idleSettleMs);
          const after = rssBytes(t.server.pid);
          const d = await b.loads.collect();
          const held = d.openNow;
          const problems = [...d.errors.slice(0, 3)];
          if (open.failed) problems.unshift(`${open.failed} of ${target} connections failed`);
          cases.add(label, { target }, peer, {
            metrics: {
              held,
              kibPerConn: held > 0 ? (after - before) / 1024 / held : Number.NaN,
              rssMiB: after / 2 ** 20,
              rssBeforeMiB: before / 2 ** 20,
              connectsPerSec: open.opened / openSeconds,
            },
            checks: { clients: target, complete: held, identical: true, verified: 0, problems },
          });
        } catch (e) {
          cases.add(label, { target }, peer, errorOf(e));
          await b.targets.drop(peer);
        } finally {
          await b.loads.closeAll().catch(() => {});
          await b.targets.retire(peer);
        }
      }
    }
  } finally {
    cases.flush();
  }
}
