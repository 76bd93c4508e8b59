import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NOT_APPLICABLE } from '../../bench/src/applicability.js';
import { SCENARIOS } from '../../bench/src/options.js';
import { PEERS } from '../../bench/src/peers/names.js';
import type { CaseResult } from '../../bench/src/results.js';

/**
 * The benchmark harness at tiny sizes, so it cannot rot: every scenario for every peer, run by
 * the built harness (bench/dist) against its own redis-server, and the figures it writes must
 * make sense. Correctness only: nothing here depends on how fast this machine is.
 */
const MAIN = fileURLToPath(new URL('../../bench/dist/main.js', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'tokencast-bench-smoke-'));

interface Report {
  results: CaseResult[];
  targets: { target: string }[];
}

function runBench(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, '--smoke', '--out', out], { timeout: 150_000, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: `${stdout}\n${stderr}` });
    });
    child.stdin?.end();
  });
}

const finite = (v: number | undefined) => typeof v === 'number' && Number.isFinite(v);

describe('bench harness (smoke)', () => {
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every scenario for every peer, with complete and identical deliveries', async () => {
    const { code, output } = await runBench();
    expect(code, output.slice(-4000)).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report;
    for (const scenario of SCENARIOS) {
      for (const peer of PEERS) {
        const cases = report.results.filter((c) => c.scenario === scenario && c.peer === peer);
        expect(cases.length, `${scenario} × ${peer} is missing`).toBeGreaterThan(0);
        for (const c of cases) {
          const what = `${scenario} ${c.label} × ${peer}`;
          if (NOT_APPLICABLE[scenario]?.[peer]) {
            expect(c.status, what).toBe('n/a');
            continue;
          }
          expect(c.status, `${what}: ${c.note ?? ''}`).toBe('ok');
          expect(c.runs.length, what).toBeGreaterThan(0);
          for (const run of c.runs) {
            const m = run.metrics;
            expect(run.checks.problems, what).toEqual([]);
            expect(run.checks.identical, `${what}: every client got the writer's text`).toBe(true);
            expect(run.checks.complete, what).toBe(run.checks.clients);
            switch (scenario) {
              case 'fanout':
              case 'many':
                expect(m.eventsPerSec, what).toBeGreaterThan(0);
                expect(m.deliveredPct, what).toBe(100);
                expect(finite(m.p50Ms) && finite(m.p99Ms) && (m.p99Ms as number) >= (m.p50Ms as number), what).toBe(true);
                expect(run.checks.verified, `${what}: a client parsed the protocol and found the same text`).toBeGreaterThan(0);
                // limit never connects to Redis, but the other peers' servers share it and stay up
                // across scenarios: an idle command of theirs (a subscriber's PING each
                // REDIS_BLOCK_MS, the socket.io adapter's blocking read) can land in limit's window
                // (CI saw one: 1 in 150 events). A peer that used Redis would write a command per
                // token, a third of one per event at N = 3 at the least.
                if (peer === 'limit') expect(m.redisPerEvent, what).toBeLessThan(0.02);
                else expect(m.redisPerEvent, what).toBeGreaterThan(0);
                break;
              case 'idle':
                expect(m.held, what).toBe(c.params.target);
                expect(finite(m.kibPerConn), what).toBe(true);
                break;
              case 'late':
                expect(m.allMs, what).toBeGreaterThan(0);
                expect(m.eventsPerSec, what).toBeGreaterThan(0);
                expect(run.checks.verified, what).toBeGreaterThan(0);
                break;
              case 'producer':
                expect(m.tokensPerSec, what).toBeGreaterThan(0);
                expect(finite(m.redisCpuUsPerToken), what).toBe(true);
                break;
              case 'slow':
                expect(finite(m.p99AloneMs) && finite(m.p99StalledMs), what).toBe(true);
                expect(finite(m.kibPerStalled), what).toBe(true);
                break;
            }
          }
        }
      }
    }
    expect(report.targets.length).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'latest.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  }, 180_000);
});
