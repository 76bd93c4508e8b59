import type { Engine, NewEvent } from '@tokencast/engine';
import { type GenerationMeta, queuedMeta } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import { digestAdd, FNV_SEED, nowUs, tokenText } from './clock.js';
import { type Request, serve } from './ipc.js';
import { pace, type RunReport, type Schedule } from './pacer.js';
import type { PeerName } from './peers/names.js';
import { benchContext, chunkObject, endEvent, sseFrame, tokenEvent } from './wire.js';

/**
 * The writer of tokens: its own process, publishing each token through the peer's own API.
 *   tokencast, naive: the engine (queue.enqueue + store.claim + store.append), so the stream has
 *                     exactly tokencast's layout; naive's server reads that same stream.
 *   resumable-stream: createNewResumableStream, as a route handler that produces would.
 *   socket.io:        a socket.io Server with the redis-streams adapter, io.to(gen).emit.
 *   limit:            no Redis: the limit server paces itself; this process only asks it to.
 */
interface Publisher {
  prepare(gens: string[]): Promise<void>;
  run(gens: string[], sched: Schedule): Promise<RunReport>;
  /** A completed generation of `tokens` tokens written as fast as possible. Returns its digest. */
  bulk(gen: string, tokens: number): Promise<number>;
  close(): Promise<void>;
}

function metaFor(id: string): GenerationMeta {
  return queuedMeta(id, {
    kind: 'chat',
    model: 'mock',
    messages: [{ role: 'user', content: 'bench' }],
    prompt: '',
    maxTokens: null,
    stream: true,
    includeUsage: false,
    params: {},
  });
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

class EnginePublisher implements Publisher {
  private readonly gens = new Map<string, { fence: number; last: number; createdAt: number }>();

  private constructor(
    private readonly engine: Engine,
    private readonly redisUrl: string,
  ) {}

  static async create(redisUrl: string): Promise<EnginePublisher> {
    const { createEngine } = await import('@tokencast/engine');
    const { engineConfig } = await import('@tokencast/runtime');
    // The settings a producer process reads (REDIS_APPEND_BATCH_MS above all: the engine's own
    // default flushes every turn), from this environment, so the writer is the shipped one.
    // Several nodes: a Redis Cluster (the many scenario's cluster cases).
    const config = engineConfig({
      ...process.env,
      REDIS_URL: redisUrl,
      REDIS_CLUSTER: String(redisUrl.includes(',')),
      TOKENCAST_KEY_PREFIX: 'tc',
      REDIS_COMMAND_TIMEOUT_MS: '0',
    });
    return new EnginePublisher(createEngine(config, 'bench:writer'), redisUrl);
  }

  async prepare(gens: string[]): Promise<void> {
    await inBatches(gens, 100, async (id) => {
      const meta = metaFor(id);
      await this.engine.queue.enqueue(meta);
      const claim = await this.engine.store.claim(id, 'bench-writer');
      if (!claim) throw new Error(`could not claim ${id}`);
      this.gens.set(id, { fence: claim.fence, last: 0, createdAt: meta.createdAt });
    });
  }

  private async append(id: string, events: NewEvent[]): Promise<void> {
    const g = this.gens.get(id);
    if (!g) throw new Error(`unknown generation ${id}`);
    const res = await this.engine.store.append(id, g.fence, g.last, events);
    g.last = res.lastOffset;
  }

  private tokens(id: string, n: number, us: number): NewEvent[] {
    const ms = Date.now() - (this.gens.get(id)?.createdAt ?? 0);
    const text = tokenText(us);
    return Array.from({ length: n }, () => ({ kind: 'token', text, tokens: 1, ms: [ms] }) as NewEvent);
  }

  private end(tokens: number): NewEvent {
    const { offset: _o, ...ev } = endEvent(0, tokens);
    return ev as NewEvent;
  }

  run(gens: string[], sched: Schedule): Promise<RunReport> {
    return pace(gens, sched, {
      send: (g, n, us) => this.append(gens[g] as string, this.tokens(gens[g] as string, n, us)),
      finish: (g) => this.append(gens[g] as string, [this.end(sched.tokens)]),
    });
  }

  async bulk(gen: string, tokens: number): Promise<number> {
    await this.prepare([gen]);
    let digest = FNV_SEED;
    for (let done = 0; done < tokens; ) {
      const n = Math.min(500, tokens - done);
      const us = nowUs();
      for (let i = 0; i < n; i++) digest = digestAdd(digest, us);
      await this.append(gen, this.tokens(gen, n, us));
      done += n;
    }
    await this.append(gen, [this.end(tokens)]);
    return digest;
  }

  /** What a hand-written producer does: one awaited XADD per token (the producer scenario's naive). */
  async flood(gens: string[], tokens: number): Promise<{ seconds: number }> {
    const { Keys } = await import('@tokencast/engine');
    const { Redis } = await import('ioredis');
    const keys = new Keys('tc');
    const conn = new Redis(this.redisUrl);
    const t0 = performance.now();
    await Promise.all(
      gens.map(async (id) => {
        for (let i = 0; i < tokens; i++) await conn.xadd(keys.events(id), '*', 't:0', tokenText(nowUs()));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    conn.disconnect();
    return { seconds };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

type ResumableContext = ReturnType<typeof import('resumable-stream').createResumableStreamContext>;

class ResumablePublisher implements Publisher {
  private constructor(private readonly ctx: ResumableContext) {}

  static async create(redisUrl: string): Promise<ResumablePublisher> {
    // The library's default clients read REDIS_URL, as its README says.
    process.env.REDIS_URL = redisUrl;
    const { createResumableStreamContext } = await import('resumable-stream');
    return new ResumablePublisher(createResumableStreamContext({ waitUntil: null }));
  }

  private readonly controllers = new Map<string, ReadableStreamDefaultController<string>>();
  private readonly offsets = new Map<string, number>();

  async prepare(gens: string[]): Promise<void> {
    await inBatches(gens, 100, async (id) => {
      let controller: ReadableStreamDefaultController<string> | null = null;
      const source = new ReadableStream<string>({
        start(c) {
          controller = c;
        },
      });
      const out = await this.ctx.createNewResumableStream(id, () => source);
      if (!controller || !out) throw new Error('resumable-stream did not create the stream');
      this.controllers.set(id, controller);
      this.offsets.set(id, 0);
      // The route that created it would send this to its own client; nobody reads it here.
      void out.pipeTo(new WritableStream()).catch(() => {});
    });
  }

  private frame(id: string, text: string): string {
    const offset = (this.offsets.get(id) ?? 0) + 1;
    this.offsets.set(id, offset);
    return sseFrame(benchContext(id), tokenEvent(offset, text));
  }

  async run(gens: string[], sched: Schedule): Promise<RunReport> {
    return pace(gens, sched, {
      send: (g, n, us) => {
        const id = gens[g] as string;
        const c = this.controllers.get(id);
        const text = tokenText(us);
        for (let i = 0; i < n; i++) c?.enqueue(this.frame(id, text));
        return undefined;
      },
      finish: (g) => {
        const id = gens[g] as string;
        const c = this.controllers.get(id);
        c?.enqueue(sseFrame(benchContext(id), endEvent((this.offsets.get(id) ?? 0) + 1, sched.tokens)));
        c?.close();
        this.controllers.delete(id);
        return undefined;
      },
    });
  }

  async bulk(): Promise<number> {
    throw new Error('resumable-stream cannot serve a completed stream');
  }

  async close(): Promise<void> {}
}

class SocketIoPublisher implements Publisher {
  private readonly offsets = new Map<string, number>();

  private constructor(
    private readonly redis: Redis,
    private readonly io: Server,
  ) {}

  static async create(redisUrl: string): Promise<SocketIoPublisher> {
    const { Redis } = await import('ioredis');
    const { Server } = await import('socket.io');
    const { createAdapter } = await import('@socket.io/redis-streams-adapter');
    const redis = new Redis(redisUrl);
    return new SocketIoPublisher(redis, new Server({ adapter: createAdapter(redis) }));
  }

  async prepare(gens: string[]): Promise<void> {
    for (const id of gens) this.offsets.set(id, 0);
  }

  async run(gens: string[], sched: Schedule): Promise<RunReport> {
    return pace(gens, sched, {
      send: (g, n, us) => {
        const id = gens[g] as string;
        const ctx = benchContext(id);
        const text = tokenText(us);
        for (let i = 0; i < n; i++) {
          const offset = (this.offsets.get(id) ?? 0) + 1;
          this.offsets.set(id, offset);
          this.io.to(id).emit('chunk', offset, chunkObject(ctx, offset, text));
        }
        return undefined;
      },
      finish: (g) => {
        this.io.to(gens[g] as string).emit('end');
        return undefined;
      },
    });
  }

  async bulk(): Promise<number> {
    throw new Error('socket.io keeps no log to replay a completed generation from');
  }

  async close(): Promise<void> {
    this.io.close();
    this.redis.disconnect();
  }
}

class LimitPublisher implements Publisher {
  constructor(private readonly serverUrl: string) {}

  private async ctl<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(`${this.serverUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`limit ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async prepare(gens: string[]): Promise<void> {
    await this.ctl('/ctl/prepare', { gens });
  }

  run(gens: string[], sched: Schedule): Promise<RunReport> {
    return this.ctl('/ctl/run', { gens, sched });
  }

  async bulk(gen: string, tokens: number): Promise<number> {
    return (await this.ctl<{ digest: number }>('/ctl/bulk', { gen, tokens })).digest;
  }

  async close(): Promise<void> {}
}

let publisher: Publisher | null = null;
let currentPeer: PeerName | null = null;

serve(async (req: Request) => {
  switch (req.op) {
    case 'init': {
      const peer = req.peer as PeerName;
      const redisUrl = req.redisUrl as string;
      // Re-init (same peer, a restarted server) keeps the publisher: only limit's depends on the server.
      if (publisher && peer === currentPeer && peer !== 'limit') return null;
      await publisher?.close();
      currentPeer = peer;
      if (peer === 'tokencast' || peer === 'naive') publisher = await EnginePublisher.create(redisUrl);
      else if (peer === 'resumable-stream') publisher = await ResumablePublisher.create(redisUrl);
      else if (peer === 'socket.io') publisher = await SocketIoPublisher.create(redisUrl);
      else publisher = new LimitPublisher(req.serverUrl as string);
      return null;
    }
    case 'prepare':
      return publisher?.prepare(req.gens as string[]);
    case 'run':
      return publisher?.run(req.gens as string[], req.sched as Schedule);
    case 'bulk':
      return publisher?.bulk(req.gen as string, req.tokens as number);
    case 'flood': {
      if (!(publisher instanceof EnginePublisher)) throw new Error('flood is the naive producer only');
      return publisher.flood(req.gens as string[], req.tokens as number);
    }
    case 'close':
      await publisher?.close();
      publisher = null;
      currentPeer = null;
      return null;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
});
