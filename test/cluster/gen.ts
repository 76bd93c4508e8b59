import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import type { Redis } from 'ioredis';

/** Generations submitted through the cluster's endpoint, and what they must end up as. */
export interface Submitted {
  id: string;
  /** Absolute URL of the generation's SSE events. */
  eventsUrl: string;
  /** What the mock writes for this request: every viewer must receive exactly this text. */
  reference: { text: string; tokens: number };
}

const LIMITS = { maxTokensCap: 32_768, maxPromptChars: 200_000 };

export async function submit(base: string, content: string): Promise<Submitted> {
  const body = { model: 'mock', messages: [{ role: 'user', content }] };
  const res = await fetch(`${base}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  const j = (await res.json()) as { id: string; events_url: string };
  const ref = mockText(parseChatRequest(body, LIMITS));
  return { id: j.id, eventsUrl: `${base}${j.events_url}`, reference: { text: ref.text, tokens: ref.tokens } };
}

export interface GenerationInfo {
  status: string;
  producer: string | null;
  last_offset: number;
  tokens: number;
  error: { code: string; message: string } | null;
}

export async function info(base: string, id: string): Promise<GenerationInfo> {
  const res = await fetch(`${base}/v1/generations/${id}`);
  if (!res.ok) throw new Error(`GET generation answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as GenerationInfo;
}

/** Status of every generation in Redis: a test ends with none `queued` or `running`. */
export async function statuses(redis: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '*:{gen_*}:meta', 'COUNT', 500);
    cursor = next;
    for (const k of keys) out.set(k, (await redis.hget(k, 'status')) ?? 'none');
  } while (cursor !== '0');
  return out;
}

export function unfinished(all: Map<string, string>): string[] {
  return [...all].filter(([, s]) => s !== 'completed' && s !== 'failed' && s !== 'cancelled').map(([k, s]) => `${k}=${s}`);
}
