import { type FinishReason, type GenerationStatus, summarizeTokenTimes, type TokenTimings, type Usage } from './events.js';
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
  /** Epoch ms a cancel was requested; 0: never. */
  cancelRequestedAt?: number;
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

/** A new generation's meta, status queued: the one place its initial shape is written. */
export function queuedMeta(id: string, request: GenerationRequest, owner = '', now = Date.now()): GenerationMeta {
  return {
    id,
    status: 'queued',
    kind: request.kind,
    model: request.model,
    request,
    createdAt: now,
    startedAt: 0,
    firstTokenAt: 0,
    completedAt: 0,
    owner,
    producer: '',
    fence: 0,
    lastOffset: 0,
    tokens: 0,
    finishReason: null,
    usage: null,
    error: null,
  };
}

export interface GenerationTimings extends TokenTimings {
  /** ms from accepted to claimed by a producer; null while queued. */
  queue_ms: number | null;
  /** ms from accepted to the end; null before the end. */
  total_ms: number | null;
}

/**
 * Timings from the per-token ms list stored in the events (ms since accepted), or, when `known`
 * is given (the end event's own summary, computed once by the producer), from that alone.
 */
export function computeTimings(meta: GenerationMeta, tokenMs: readonly number[], known: TokenTimings | null = null): GenerationTimings {
  return {
    ...(known ?? summarizeTokenTimes(tokenMs)),
    queue_ms: meta.startedAt ? meta.startedAt - meta.createdAt : null,
    total_ms: meta.completedAt ? meta.completedAt - meta.createdAt : null,
  };
}

/** Path of a generation's SSE stream. */
export function eventsPath(id: string): string {
  return `/v1/generations/${id}/events`;
}

/** GET /v1/generations/:id: what a client sees of a generation (epoch ms times; null until they happen). */
export function describeGeneration(meta: GenerationMeta, tokenMs: readonly number[], known: TokenTimings | null = null) {
  return {
    id: meta.id,
    object: 'generation' as const,
    status: meta.status,
    kind: meta.kind,
    model: meta.model,
    created_at: meta.createdAt,
    started_at: meta.startedAt || null,
    first_token_at: meta.firstTokenAt || null,
    completed_at: meta.completedAt || null,
    producer: meta.producer || null,
    last_offset: meta.lastOffset,
    tokens: meta.tokens,
    finish_reason: meta.finishReason,
    usage: meta.usage,
    error: meta.error,
    timings: computeTimings(meta, tokenMs, known),
    events_url: eventsPath(meta.id),
  };
}
