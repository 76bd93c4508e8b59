import { hostname } from 'node:os';
import { ConfigError, envInt, envString } from '@tokencast/engine';
import type { ReclaimPolicy, WorkerOptions } from './worker.js';

type Env = Record<string, string | undefined>;

export function workerOptionsFromEnv(env: Env): WorkerOptions {
  const policy = envString(env, 'RECLAIM_POLICY', 'continue');
  if (policy !== 'continue' && policy !== 'fail') throw new ConfigError(`RECLAIM_POLICY must be "continue" or "fail", got ${JSON.stringify(policy)}`);
  const suffix = Math.random().toString(36).slice(2, 8);
  return {
    name: envString(env, 'PRODUCER_NAME', `${hostname()}-${process.pid}-${suffix}`),
    concurrency: envInt(env, 'PRODUCER_CONCURRENCY', 16, 1, 100_000),
    reclaimIdleMs: envInt(env, 'RECLAIM_IDLE_MS', 30_000, 100),
    maxDeliveries: envInt(env, 'MAX_DELIVERIES', 3, 1),
    reclaimPolicy: policy as ReclaimPolicy,
    takeBlockMs: envInt(env, 'REDIS_BLOCK_MS', 5_000, 10),
    writeRetryBudgetMs: envInt(env, 'WRITE_RETRY_BUDGET_MS', 30_000, 0),
  };
}
