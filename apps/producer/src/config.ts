import { hostname } from 'node:os';
import { ConfigError, envInt, envList, envString } from '@tokencast/engine';
import type { ReclaimPolicy, WorkerOptions } from './worker.js';

type Env = Record<string, string | undefined>;

export function workerOptionsFromEnv(env: Env): WorkerOptions & { queues: string[] } {
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
    queues: queuesFromEnv(env),
  };
}

/** PRODUCER_QUEUES: the queues this producer takes jobs from, comma-separated; default "default". */
function queuesFromEnv(env: Env): string[] {
  const list = envList(env, 'PRODUCER_QUEUES');
  for (const q of list) if (!/^[A-Za-z0-9_.-]{1,64}$/.test(q)) throw new ConfigError(`PRODUCER_QUEUES: ${JSON.stringify(q)} must be 1-64 of [A-Za-z0-9_.-]`);
  return list.length > 0 ? [...new Set(list)] : ['default'];
}
