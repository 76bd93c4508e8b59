import type { FinishReason, GenerationStatus, Usage } from './events.js';
import type { GenerationRequest } from './requests.js';

/** What tokencast knows about one generation; kept in a Redis hash beside its stream. */
export interface GenerationMeta {
  id: string;
  status: GenerationStatus;
  kind: GenerationRequest['kind'];
  model: string;
  request: GenerationRequest;
  /** Epoch ms. createdAt is when the job was accepted; the others are 0 until they happen. */
  createdAt: number;
  startedAt: number;
  firstTokenAt: number;
  completedAt: number;
  /** Name of the API key that created it; empty when the edge runs without keys. */
  owner: string;
  /** Name of the producer that last claimed the job; empty while queued. */
  producer: string;
  /** Claim counter: each claim increments it, and only the holder of the current value may append. */
  fence: number;
  /** Offset of the newest event; 0 while nothing was written. */
  lastOffset: number;
  /** Model tokens written so far. */
  tokens: number;
  finishReason: FinishReason | null;
  usage: Usage | null;
  error: { code: string; message: string } | null;
}

export interface GenerationTimings {
  /** ms from accepted to first token; null before the first token. */
  ttft_ms: number | null;
  queue_ms: number | null;
  total_ms: number | null;
  /** Inter-token latency over all consecutive token pairs; null with fewer than 2 tokens. */
  itl_mean_ms: number | null;
  itl_p95_ms: number | null;
  tokens_per_second: number | null;
}

/** Timings from the per-token ms list stored in the events (ms since accepted). */
export function computeTimings(meta: GenerationMeta, tokenMs: number[]): GenerationTimings {
  const ttft = tokenMs.length > 0 ? (tokenMs[0] as number) : null;
  const gaps: number[] = [];
  for (let i = 1; i < tokenMs.length; i++) gaps.push((tokenMs[i] as number) - (tokenMs[i - 1] as number));
  gaps.sort((a, b) => a - b);
  const mean = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : null;
  const p95 = gaps.length ? (gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.95))] as number) : null;
  const span = tokenMs.length > 1 ? (tokenMs[tokenMs.length - 1] as number) - (tokenMs[0] as number) : 0;
  return {
    ttft_ms: ttft,
    queue_ms: meta.startedAt ? meta.startedAt - meta.createdAt : null,
    total_ms: meta.completedAt ? meta.completedAt - meta.createdAt : null,
    itl_mean_ms: mean === null ? null : Math.round(mean * 100) / 100,
    itl_p95_ms: p95,
    tokens_per_second: span > 0 ? Math.round(((tokenMs.length - 1) / span) * 1000 * 100) / 100 : null,
  };
}
