import type { FinishReason, GenerationMeta, GenerationRequest, GenerationStatus, Usage } from '@tokencast/protocol';

/** Meta hash field names, as an operator sees them with `HGETALL <prefix>:{<id>}:meta`. */
export function metaToHash(m: GenerationMeta): Record<string, string> {
  return {
    id: m.id,
    status: m.status,
    kind: m.kind,
    model: m.model,
    request: JSON.stringify(m.request),
    created_at: String(m.createdAt),
    started_at: String(m.startedAt),
    first_token_at: String(m.firstTokenAt),
    completed_at: String(m.completedAt),
    owner: m.owner,
    producer: m.producer,
    fence: String(m.fence),
    last_offset: String(m.lastOffset),
    tokens: String(m.tokens),
    finish_reason: m.finishReason ?? '',
    usage: m.usage ? JSON.stringify(m.usage) : '',
    error: m.error ? JSON.stringify(m.error) : '',
  };
}

export function hashToMeta(h: Record<string, string>): GenerationMeta | null {
  if (!h.id || !h.status) return null;
  return {
    id: h.id,
    status: h.status as GenerationStatus,
    kind: h.kind === 'completion' ? 'completion' : 'chat',
    model: h.model ?? '',
    request: JSON.parse(h.request ?? '{}') as GenerationRequest,
    createdAt: Number(h.created_at ?? 0),
    startedAt: Number(h.started_at ?? 0),
    firstTokenAt: Number(h.first_token_at ?? 0),
    completedAt: Number(h.completed_at ?? 0),
    owner: h.owner ?? '',
    cancelRequestedAt: Number(h.cancel_requested_at ?? 0),
    producer: h.producer ?? '',
    fence: Number(h.fence ?? 0),
    lastOffset: Number(h.last_offset ?? 0),
    tokens: Number(h.tokens ?? 0),
    finishReason: (h.finish_reason || null) as FinishReason | null,
    usage: h.usage ? (JSON.parse(h.usage) as Usage) : null,
    error: h.error ? (JSON.parse(h.error) as { code: string; message: string }) : null,
  };
}
