/**
 * A small seeded PRNG (mulberry32): the same SEED gives the same schedule of faults and the same
 * generations, so a failing run can be replayed. Timing still varies from run to run (processes
 * start and die at their own pace); what replays is the plan.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(xs: readonly T[]): T;
  /** A new generator derived from this seed and a label (per slot, per viewer), independent of call order elsewhere. */
  fork(label: number): Rng;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)] as (typeof xs)[number],
    fork: (label) => rng((seed ^ Math.imul(label + 1, 0x9e3779b1)) >>> 0),
  };
}

/** A fresh seed when none is given: printed by the driver so the run can be replayed with SEED=. */
export function seedFromEnv(value: string | undefined): number {
  if (value !== undefined && value !== '') {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`SEED must be an integer in 0 … 4294967295, got ${JSON.stringify(value)}`);
    return n;
  }
  return Math.floor(Math.random() * 0xffffffff);
}
