import { InvalidRequestError, isGenerationId } from '@tokencast/protocol';
import { DURABLE_NAME_MAX_BYTES } from '../durable.js';

/**
 * The only place Redis keys are built. A generation's keys share the `{<id>}` hash tag so they
 * live on one Redis Cluster slot (the append script touches both atomically).
 *
 *   <prefix>:{<id>}:events   stream  the generation's events, entry ids 0-1, 0-2, … (fields: codec.ts)
 *   <prefix>:{<id>}:meta     hash    status, timings, counts, fence (see codec.ts)
 *   <prefix>:{<id>}:viewers  zset    edges with viewers of the generation, scored by expiry (ms)
 *   <prefix>:queue           stream  jobs (field g = generation id), consumer group "producers"
 *   <prefix>:dead            stream  jobs that kept failing, with the reason
 *   <prefix>:recent          zset    generation ids by creation time (for listing)
 *   <prefix>:cancel          pubsub  channel: generation ids whose cancel was requested
 *   <prefix>:bell            pubsub  doorbell (one Redis): one ring per producer flush, the events
 *                                    it wrote (bell.ts; every edge's tail subscribes, tail.ts)
 *   <prefix>:bell:{<prefix>-bell-<k>}  sharded pubsub  Redis Cluster: doorbell shard k (cluster-tail.ts)
 *   <prefix>:apikeys         hash    sha256(key) → key name (keys shared by every edge)
 *   <prefix>:revoked         set     names of revoked keys
 *   <prefix>:rl:<name>:<n>   string  requests of key <name> in fixed window n (expires)
 *
 * Durable Streams (durable.ts): a stream's keys share the tag `{<b>}`, b = base64url of its name
 * (so a client's name can never bring its own brace or separator into a key):
 *   <prefix>:ds:{<b>}:meta   hash    content type, epoch, tail, closed, TTL/expiry, fork origin
 *   <prefix>:ds:{<b>}:log    stream  entries, ids 0-1, 0-2, … (field d = data, n = JSON messages)
 *   <prefix>:ds:{<b>}:prod   hash    producer id → "epoch:lastSeq"
 *   <prefix>:ds:{<b>}:forks  set     names of the forks taken from the stream
 *   <prefix>:ds:{<b>}:bell   pubsub  channel: rung after every change of the stream
 * and per owner (an API key; o = base64url of its name), the quota ledger (durable-quota-*.lua),
 * on a slot of its own:
 *   <prefix>:dsq:{<o>}:due   zset    stream name → when its entry is re-checked against the stream (ms)
 *   <prefix>:dsq:{<o>}:ent   hash    stream name → "bytes:version:pending:leaseEnd"; "" → total bytes
 */
export const PRODUCER_GROUP = 'producers';

/** A durable stream's keys: meta hash, log stream, producers hash, forks set, and its bell (a pub/sub channel). */
export interface DurableKeys {
  meta: string;
  log: string;
  producers: string;
  forks: string;
  bell: string;
}

/** An owner's quota ledger: the names it holds by re-check time (due), each name's bytes and reservations and the total (ledger). */
export interface DurableQuotaKeys {
  due: string;
  ledger: string;
}

export class Keys {
  readonly queue: string;
  readonly dead: string;
  readonly recent: string;
  readonly cancelChannel: string;
  readonly bell: string;
  readonly apiKeys: string;
  readonly revoked: string;

  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new Error(`invalid key prefix ${JSON.stringify(prefix)}`);
    this.queue = `${prefix}:queue`;
    this.dead = `${prefix}:dead`;
    this.recent = `${prefix}:recent`;
    this.cancelChannel = `${prefix}:cancel`;
    this.bell = `${prefix}:bell`;
    this.apiKeys = `${prefix}:apikeys`;
    this.revoked = `${prefix}:revoked`;
  }

  /** A job queue's stream: `<prefix>:queue` for the default queue, `<prefix>:queue:<name>` otherwise. */
  queueNamed(name: string): string {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error(`invalid queue name ${JSON.stringify(name)}`);
    return name === 'default' ? this.queue : `${this.queue}:${name}`;
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

  /** A durable stream's keys (the table above), all under its tag. */
  durable(name: string): DurableKeys {
    const base = `${this.prefix}:ds:{${durableTag(name)}}`;
    return { meta: `${base}:meta`, log: `${base}:log`, producers: `${base}:prod`, forks: `${base}:forks`, bell: `${base}:bell` };
  }

  /** An owner's quota ledger (durable-quota-*.lua), on a slot of its own. */
  durableQuota(owner: string): DurableQuotaKeys {
    const base = `${this.prefix}:dsq:{${durableTag(owner)}}`;
    return { due: `${base}:due`, ledger: `${base}:ent` };
  }

  /** Doorbell shard k of a Redis Cluster, a sharded channel (its own hash tag: each shard is a slot of its own). */
  bellShard(k: number): string {
    return `${this.prefix}:bell:{${this.prefix}-bell-${k}}`;
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

/** A durable stream's name as it appears in its keys: base64url, which has no brace, colon or space. */
function durableTag(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length > DURABLE_NAME_MAX_BYTES) throw new InvalidRequestError('invalid stream name', 'invalid_stream_name');
  return bytes.toString('base64url');
}

function checked(id: string): string {
  // Ids reach here only after the edge validated them; this is the last line of defence.
  if (!isGenerationId(id)) throw new InvalidRequestError('invalid generation id', 'invalid_generation_id');
  return id;
}
