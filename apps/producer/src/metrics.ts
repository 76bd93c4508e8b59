import { Counter, Gauge, Histogram } from 'prom-client';

/**
 * Producer metrics, in the shared registry (@tokencast/runtime's metricsRegistry: the edge serves
 * it in embedded mode; a standalone producer serves it on METRICS_PORT). Latencies come from the
 * per-token times the producer stores with each event, so they match what viewers can compute.
 */
const ms = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

export const producerMetrics = {
  generations: new Counter({ name: 'tokencast_generations_total', help: 'Generations ended, by terminal status', labelNames: ['status', 'model'] as const }),
  tokens: new Counter({ name: 'tokencast_tokens_total', help: 'Model tokens written', labelNames: ['model'] as const }),
  ttft: new Histogram({ name: 'tokencast_ttft_ms', help: 'Time from accepted to first token, ms', labelNames: ['model'] as const, buckets: ms }),
  itl: new Histogram({
    name: 'tokencast_inter_token_ms',
    help: 'Gap between consecutive tokens, ms',
    labelNames: ['model'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000],
  }),
  queueWait: new Histogram({ name: 'tokencast_queue_wait_ms', help: 'Time from accepted to claimed by a producer, ms', buckets: ms }),
  tokensPerSecond: new Histogram({
    name: 'tokencast_generation_tokens_per_second',
    help: 'Tokens per second of each generation',
    labelNames: ['model'] as const,
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
  }),
  upstreamErrors: new Counter({ name: 'tokencast_upstream_errors_total', help: 'Upstream failures by kind', labelNames: ['kind'] as const }),
  active: new Gauge({ name: 'tokencast_producer_active_generations', help: 'Generations this producer is running' }),
  reclaimed: new Counter({ name: 'tokencast_jobs_reclaimed_total', help: 'Jobs reclaimed from silent producers' }),
};

/** Per-token times (ms since accepted) of one finished generation into the histograms. */
export function observeTimings(model: string, tokenMs: readonly number[]): void {
  if (tokenMs.length === 0) return;
  producerMetrics.ttft.observe({ model }, tokenMs[0] as number);
  for (let i = 1; i < tokenMs.length; i++) producerMetrics.itl.observe({ model }, (tokenMs[i] as number) - (tokenMs[i - 1] as number));
  const span = (tokenMs[tokenMs.length - 1] as number) - (tokenMs[0] as number);
  if (span > 0) producerMetrics.tokensPerSecond.observe({ model }, ((tokenMs.length - 1) / span) * 1000);
}
