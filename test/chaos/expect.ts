import { expect } from 'vitest';
import type { ChaosRun } from './driver.js';

/** The assertions every chaos run must pass, whatever its profile and seed. */
export function expectSurvived(run: ChaosRun, minKills: number, viewersPerGeneration = 10): void {
  const t = run.totals;
  expect(run.problems, `SEED=${t.seed}: ${run.problems.slice(0, 10).join('\n')}`).toEqual([]);
  expect(t.lost).toBe(0);
  expect(t.duplicated).toBe(0);
  expect(t.hung).toBe(0);
  expect(t.wrongText).toBe(0);
  expect(t.wrongTerminal).toBe(0);
  expect(t.failedViewers).toBe(0);
  expect(t.generationsNotCompleted).toBe(0);
  expect(t.infraErrors).toEqual([]);
  expect(t.redisRestarts).toBe(1);
  expect(t.kills).toBeGreaterThanOrEqual(minKills);
  expect(t.generations).toBeGreaterThanOrEqual(20);
  expect(t.viewers).toBe(t.generations * viewersPerGeneration);
  // The faults hit live streams: viewers really did reconnect, and tokens flowed.
  expect(t.resumes).toBeGreaterThan(0);
  expect(t.tokenEventsDelivered).toBeGreaterThan(0);
}
