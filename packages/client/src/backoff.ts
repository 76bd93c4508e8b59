import type { RetryPolicy } from './types.js';

// About 20 s of patience on average: enough to ride out a rolling restart behind a proxy that briefly
// answers 502 while it marks edges down and up again (see test/chaos).
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 12, initialDelayMs: 100, maxDelayMs: 5_000 };

/** Full jitter: uniform in [0, min(cap, initial × 2^(attempt-1))]. `attempt` starts at 1. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * A server-given delay (a `retry:` hint, Retry-After) plus up to 20 % jitter: when an edge drains,
 * all its viewers get the same hint, and should not all arrive at the next edge at once.
 */
export function hintedDelay(hintMs: number, random: () => number = Math.random): number {
  return Math.round(hintMs * (1 + 0.2 * random()));
}

/** Resolves after ms; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
