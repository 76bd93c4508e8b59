import { InvalidRequestError, isGenerationId } from '@tokencast/protocol';

/**
 * The only place Redis keys are built. A generation's keys share the `{<id>}` hash tag so they
 * live on one Redis Cluster slot (the append script touches both atomically).
 *
 *   <prefix>:{<id>}:events   stream  the generation's events, entry ids 0-1, 0-2, …
 *   <prefix>:{<id>}:meta     hash    status, timings, counts, fence (see codec.ts)
 *   <prefix>:{<id>}:viewers  zset    edges with viewers of the generation, scored by expiry (ms)
 *   <prefix>:queue           stream  jobs (field g = generation id), consumer group "producers"
 *   <prefix>:dead            stream  jobs that kept failing, with the reason
 *   <prefix>:recent          zset    generation ids by creation time (for listing)
 *   <prefix>:cancel          pubsub  channel: generation ids whose cancel was requested
 *   <prefix>:apikeys         hash    sha256(key) → key name (keys shared by every edge)
 *   <prefix>:revoked         set     names of revoked keys
 *   <prefix>:rl:<name>:<n>   string  requests of key <name> in fixed window n (expires)
 */
export const PRODUCER_GROUP = 'producers';

export class Keys {
  readonly queue: string;
  readonly dead: string;
  readonly recent: string;
  readonly cancelChannel: string;
  readonly apiKeys: string;
  readonly revoked: string;

  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new Error(`invalid key prefix ${JSON.stringify(prefix)}`);
    this.queue = `${prefix}:queue`;
    this.dead = `${prefix}:dead`;
    this.recent = `${prefix}:recent`;
    this.cancelChannel = `${prefix}:cancel`;
    this.apiKeys = `${prefix}:apikeys`;
    this.revoked = `${prefix}:revoked`;
  }

  /** A rate-limit window counter; `subject` is a key name or an address, never a secret. */
  rateWindow(subject: string, window: number): string {
    return `${this.prefix}:rl:${subject.replace(/[^A-Za-z0-9_.:-]/g, '_')}:${window}`;
  }

  events(id: string): string {
    return `${this.prefix}:{${checked(id)}}:events`;
  }

  meta(id: string): string {
    return `${this.prefix}:{${checked(id)}}:meta`;
  }

  viewers(id: string): string {
    return `${this.prefix}:{${checked(id)}}:viewers`;
  }

  /** Generation id of an events key built here; null for any other key. */
  idOfEvents(key: string): string | null {
    const start = this.prefix.length + 2;
    const end = key.length - ':events'.length - 1;
    if (!key.startsWith(`${this.prefix}:{`) || !key.endsWith('}:events')) return null;
    const id = key.slice(start, end);
    return isGenerationId(id) ? id : null;
  }
}

function checked(id: string): string {
  // Ids reach here only after the edge validated them; this is the last line of defence.
  if (!isGenerationId(id)) throw new InvalidRequestError('invalid generation id', 'invalid_generation_id');
  return id;
}
