import { digestAdd, FNV_SEED, nowUs } from './clock.js';

/** What a writer reports after a paced run. */
export interface RunReport {
  /** Clock (µs) of the first and last token handed to the system under test. */
  firstUs: number;
  lastUs: number;
  /** Per generation: digest of the timestamps written, in order (see clock.ts). */
  digests: Record<string, number>;
  /** Tokens written per generation. */
  tokens: number;
  /** Write operations issued (appends, emits, socket writes), all generations together. */
  writes: number;
}

export interface PaceHooks {
  /**
   * Hand `n` tokens of generation `g`, all stamped `us`, to the system under test. A promise
   * means "one write in flight": tokens that fall due meanwhile go with the next write, as a
   * producer coalesces behind a slow store.
   */
  send(g: number, n: number, us: number): Promise<void> | undefined;
  /** Write the generation's end. */
  finish(g: number): Promise<void> | undefined;
}

export interface Schedule {
  /** Tokens/s per generation. */
  rate: number;
  /** Tokens per generation, burst included. */
  tokens: number;
  /** Tokens due at once at the start (0: none), before the paced ones. */
  burst?: number;
  /** Pause between the burst and the first paced token, ms. */
  gapMs?: number;
}

/** Most tokens handed over in one write (a burst goes out in pieces of this size). */
const MAX_PER_WRITE = 500;

/**
 * Writes `tokens` tokens to every generation: a burst first when asked, then at `rate`
 * tokens/s on a fixed schedule (a late tick sends everything already due at once, so the rate
 * holds on average). Generations are staggered over one token interval so that they do not all
 * fire together.
 */
export async function pace(gens: readonly string[], sched: Schedule, hooks: PaceHooks): Promise<RunReport> {
  const { rate, tokens } = sched;
  const burst = Math.min(tokens, sched.burst ?? 0);
  const gapUs = burst > 0 ? (sched.gapMs ?? 0) * 1000 : 0;
  const G = gens.length;
  const sent = new Array<number>(G).fill(0);
  const busy = new Array<boolean>(G).fill(false);
  const digests = new Array<number>(G).fill(FNV_SEED);
  const intervalUs = 1e6 / rate;
  let writes = 0;
  let firstUs = 0;
  let lastUs = 0;
  let failure: unknown = null;
  const start = nowUs();
  await new Promise<void>((resolve, reject) => {
    let pending = G;
    const tick = () => {
      if (failure) return reject(failure);
      const now = nowUs();
      for (let g = 0; g < G; g++) {
        if (busy[g] || (sent[g] as number) >= tokens) continue;
        const offset = (g / G) * intervalUs;
        const paced = now - start - gapUs - offset;
        const due = Math.min(tokens, burst + (paced >= 0 ? Math.floor(paced / intervalUs) + 1 : 0));
        const n = Math.min(MAX_PER_WRITE, due - (sent[g] as number));
        if (n <= 0) continue;
        const us = nowUs();
        if (!firstUs) firstUs = us;
        lastUs = us;
        sent[g] = (sent[g] as number) + n;
        for (let i = 0; i < n; i++) digests[g] = digestAdd(digests[g] as number, us);
        writes++;
        const p = hooks.send(g, n, us);
        const after = () => {
          if (sent[g] === tokens && !busy[g] && --pending === 0) resolve();
        };
        if (p) {
          busy[g] = true;
          p.then(
            () => {
              busy[g] = false;
              after();
            },
            (err: unknown) => {
              failure = err;
            },
          );
        } else after();
      }
      if (pending > 0) {
        // More already due (a burst): go on at once, after I/O had its turn.
        if (sent.some((n, g) => !busy[g] && n < tokens && n < burst)) setImmediate(tick);
        else setTimeout(tick, 1);
      }
    };
    tick();
  });
  await Promise.all(gens.map((_, g) => hooks.finish(g)));
  const out: Record<string, number> = {};
  gens.forEach((id, g) => {
    out[id] = digests[g] as number;
  });
  return { firstUs, lastUs, digests: out, tokens, writes };
}
