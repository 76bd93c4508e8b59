import { type EndEvent, type GenerationMeta, type GenerationRequest, newGenerationId, queuedMeta, type StoredEvent, type TokenEvent } from '@tokencast/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait.js';
import { EndedError, type Engine, FencedError, MissingGenerationError, type NewEvent, OffsetMismatchError } from '../src/index.js';

/**
 * The one conformance suite every engine must pass. `factory` builds a fresh, isolated engine per
 * test (its own queue and keys), so tests never see each other's jobs.
 */
export interface EngineFactoryOptions {
  /** Generation TTL, seconds. */
  ttlSeconds?: number;
  /** BLOCK of blocking reads, ms (only the Redis engine has any). */
  blockMs?: number;
}

export type EngineFactory = (opts: EngineFactoryOptions) => Promise<Engine>;

export function newMeta(overrides: Partial<GenerationMeta> = {}): GenerationMeta {
  const request: GenerationRequest = {
    kind: 'chat',
    model: 'mock',
    messages: [{ role: 'user', content: 'hi' }],
    prompt: '',
    maxTokens: null,
    stream: true,
    includeUsage: false,
    params: {},
  };
  return { ...queuedMeta(newGenerationId(), request), ...overrides };
}

export function tok(text: string, tokens = 1): NewEvent {
  return { kind: 'token', text, tokens, ms: Array.from({ length: tokens }, (_, i) => 10 + i) };
}

export function end(status: EndEvent['status'] = 'completed'): NewEvent {
  return {
    kind: 'end',
    status,
    finishReason: status === 'completed' ? 'stop' : status === 'cancelled' ? 'cancelled' : 'error',
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    error: status === 'failed' ? { code: 'boom', message: 'it broke' } : null,
    ms: 99,
    timings: null,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function engineConformance(name: string, factory: EngineFactory): void {
  describe(`engine conformance: ${name}`, () => {
    const open: Engine[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    const make = async (opts: EngineFactoryOptions = {}) => {
      const e = await factory(opts);
      open.push(e);
      return e;
    };
    /** An engine with one generation enqueued and claimed by "p1". */
    const claimed = async (opts: EngineFactoryOptions = {}) => {
      const engine = await make(opts);
      const meta = newMeta();
      await engine.queue.enqueue(meta);
      const c = await engine.store.claim(meta.id, 'p1');
      if (!c) throw new Error('claim of a fresh generation returned null');
      return { engine, store: engine.store, id: meta.id, fence: c.fence };
    };

    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
      for (const e of open.splice(0)) await e.close();
    });

    describe('queue', () => {
      it('enqueue stores the meta as queued; take hands the job out once; ack clears it', async () => {
        const engine = await make();
        const meta = newMeta();
        await engine.queue.enqueue(meta);
        const stored = await engine.store.getMeta(meta.id);
        expect(stored).toMatchObject({ id: meta.id, status: 'queued', kind: 'chat', model: 'mock', fence: 0, lastOffset: 0, tokens: 0 });
        expect(stored?.request).toEqual(meta.request);

        const jobs = await engine.queue.take('c1', 10, 100);
        expect(jobs).toHaveLength(1);
        expect(jobs[0]).toMatchObject({ generationId: meta.id, deliveries: 1 });
        expect(typeof jobs[0]?.jobId).toBe('string');
        expect(await engine.queue.take('c2', 10, 50)).toEqual([]);

        let stats = await engine.queue.stats();
        expect(stats.pending).toBe(1);
        expect(stats.waiting).toBe(0);
        expect(stats.consumers.find((c) => c.name === 'c1')?.pending).toBe(1);

        await engine.queue.ack(jobs[0]?.jobId as string);
        stats = await engine.queue.stats();
        expect(stats.pending).toBe(0);
        expect(await engine.queue.reclaim('c2', 0, 10)).toEqual([]);
      });

      it('take hands out jobs in order, at most `count`, and waits for one enqueued while it blocks', async () => {
        const engine = await make();
        const metas = [newMeta(), newMeta(), newMeta()];
        for (const m of metas) await engine.queue.enqueue(m);
        const first = await engine.queue.take('c1', 2, 100);
        expect(first.map((j) => j.generationId)).toEqual([metas[0]?.id, metas[1]?.id]);
        const second = await engine.queue.take('c1', 10, 100);
        expect(second.map((j) => j.generationId)).toEqual([metas[2]?.id]);

        const late = newMeta();
        const started = Date.now();
        const taking = engine.queue.take('c1', 1, 5_000);
        await sleep(100);
        await engine.queue.enqueue(late);
        const got = await taking;
        expect(got.map((j) => j.generationId)).toEqual([late.id]);
        expect(Date.now() - started).toBeLessThan(4_000);
      });

      it('reclaims the job of a consumer that went silent, counting deliveries', async () => {
        const engine = await make();
        const meta = newMeta();
        await engine.queue.enqueue(meta);
        const [job] = await engine.queue.take('dead', 1, 100);
        expect(job?.deliveries).toBe(1);
        // Not idle long enough yet.
        expect(await engine.queue.reclaim('alive', 5_000, 10)).toEqual([]);
        await sleep(500);
        const again = await engine.queue.reclaim('alive', 400, 10);
        expect(again).toHaveLength(1);
        expect(again[0]).toMatchObject({ jobId: job?.jobId, generationId: meta.id, deliveries: 2 });
        // The reclaim reset its idle time: nobody else gets it right away.
        expect(await engine.queue.reclaim('third', 400, 10)).toEqual([]);
        await sleep(500);
        const third = await engine.queue.reclaim('third', 400, 10);
        expect(third[0]?.deliveries).toBe(3);
        const stats = await engine.queue.stats();
        expect(stats.pending).toBe(1);
        expect(stats.consumers.find((c) => c.name === 'third')?.pending).toBe(1);
      });

      it('finds an idle job behind many busy ones, with its own delivery count', async () => {
        const engine = await make();
        for (let i = 0; i < 41; i++) await engine.queue.enqueue(newMeta());
        const busy = await engine.queue.take('busy', 40, 100);
        const [idle] = await engine.queue.take('dead', 1, 100);
        expect(busy).toHaveLength(40);
        await sleep(500);
        await engine.queue.touch(
          'busy',
          busy.map((j) => j.jobId),
        );
        // One free slot: the one idle job must be found although 40 busy ones come first.
        const got = await engine.queue.reclaim('thief', 400, 1);
        expect(got.map((j) => j.jobId)).toEqual([idle?.jobId]);
        expect(got[0]?.deliveries).toBe(2);
        await sleep(500);
        // Now everything is idle: a reclaim takes at most `count`, each with its own count.
        const many = await engine.queue.reclaim('thief', 400, 5);
        expect(many).toHaveLength(5);
        for (const j of many) expect(j.deliveries).toBe(j.jobId === idle?.jobId ? 3 : 2);
      });

      it('touch keeps a job from being reclaimed while its consumer works on it', async () => {
        const engine = await make();
        await engine.queue.enqueue(newMeta());
        const [job] = await engine.queue.take('worker', 1, 100);
        const jobId = job?.jobId as string;
        for (let i = 0; i < 4; i++) {
          await sleep(200);
          await engine.queue.touch('worker', [jobId]);
        }
        // 800 ms since take, but touched just now.
        expect(await engine.queue.reclaim('thief', 500, 10)).toEqual([]);
        await sleep(600);
        const stolen = await engine.queue.reclaim('thief', 500, 10);
        expect(stolen.map((j) => j.jobId)).toEqual([jobId]);
        // Touch does not count as a delivery.
        expect(stolen[0]?.deliveries).toBe(2);
        await engine.queue.touch('worker', []);
      });

      it('deadLetter moves a job aside: it is neither pending nor handed out again', async () => {
        const engine = await make();
        const meta = newMeta();
        await engine.queue.enqueue(meta);
        const [job] = await engine.queue.take('c1', 1, 100);
        if (!job) throw new Error('no job');
        await engine.queue.deadLetter(job, 'kept failing');
        expect((await engine.queue.stats()).pending).toBe(0);
        expect(await engine.queue.reclaim('c2', 0, 10)).toEqual([]);
        expect(await engine.queue.take('c2', 10, 50)).toEqual([]);
        // The generation itself is untouched: its writer still ends it.
        expect((await engine.store.getMeta(meta.id))?.status).toBe('queued');
      });

      it('close interrupts a take in progress', async () => {
        const engine = await make();
        const started = Date.now();
        const taking = engine.queue.take('c1', 1, 10_000);
        await sleep(150);
        await engine.queue.close();
        const result = await taking.catch(() => []);
        expect(result).toEqual([]);
        expect(Date.now() - started).toBeLessThan(5_000);
      });
    });

    describe('store: claim and append', () => {
      it('claim bumps the fence and marks the generation running', async () => {
        const engine = await make();
        const meta = newMeta();
        await engine.queue.enqueue(meta);
        const a = await engine.store.claim(meta.id, 'p1');
        expect(a?.fence).toBe(1);
        expect(a?.meta).toMatchObject({ status: 'running', producer: 'p1', fence: 1 });
        expect(a?.meta.startedAt).toBeGreaterThan(0);
        const b = await engine.store.claim(meta.id, 'p2');
        expect(b?.fence).toBe(2);
        expect(b?.meta).toMatchObject({ status: 'running', producer: 'p2', fence: 2, startedAt: a?.meta.startedAt });
        expect(await engine.store.claim(newMeta().id, 'p1')).toBeNull();
      });

      it('appends at explicit offsets and updates the meta with them', async () => {
        const { store, id, fence } = await claimed();
        expect(await store.append(id, fence, 0, [tok('Hello'), tok(' wor', 2)])).toEqual({ lastOffset: 2 });
        expect(await store.append(id, fence, 2, [tok('ld')])).toEqual({ lastOffset: 3 });
        const meta = await store.getMeta(id);
        expect(meta).toMatchObject({ status: 'running', lastOffset: 3, tokens: 4 });
        expect(meta?.firstTokenAt).toBeGreaterThan(0);
        const evs = await store.readEvents(id, 0, 100);
        expect(evs.map((e) => e.offset)).toEqual([1, 2, 3]);
        expect(evs.map((e) => (e as TokenEvent).text).join('')).toBe('Hello world');
        expect(evs[1]).toEqual({ offset: 2, kind: 'token', text: ' wor', tokens: 2, ms: [10, 11] });

        expect(await store.append(id, fence, 3, [tok('!'), end('completed')])).toEqual({ lastOffset: 5 });
        const done = await store.getMeta(id);
        expect(done).toMatchObject({
          status: 'completed',
          lastOffset: 5,
          tokens: 5,
          finishReason: 'stop',
          usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
          error: null,
        });
        expect(done?.completedAt).toBeGreaterThan(0);
        const last = (await store.readEvents(id, 4, 10))[0] as StoredEvent;
        expect(last).toEqual({ offset: 5, ...end('completed') });
      });

      it('newestOffset: null for an unknown generation, 0 before any event, then the newest offset through the end', async () => {
        const { store, id, fence } = await claimed();
        expect(await store.newestOffset(newMeta().id)).toBeNull();
        expect(await store.newestOffset(id)).toBe(0);
        await store.append(id, fence, 0, [tok('a'), tok('b')]);
        expect(await store.newestOffset(id)).toBe(2);
        await store.append(id, fence, 2, [tok('c'), end('completed')]);
        expect(await store.newestOffset(id)).toBe(4);
        expect(await store.delete(id)).toBe(true);
        expect(await store.newestOffset(id)).toBeNull();
      });

      it('keeps text with newlines, NULs, unicode and separators intact', async () => {
        const { store, id, fence } = await claimed();
        const nasty = 'a\r\nb\n\nid: 9\ndata: x\u0000é🙂,k,t \\ "q"';
        await store.append(id, fence, 0, [tok(nasty), tok('')]);
        const evs = await store.readEvents(id, 0, 10);
        expect((evs[0] as TokenEvent).text).toBe(nasty);
        expect((evs[1] as TokenEvent).text).toBe('');
      });

      it('a failed end keeps its error code and message', async () => {
        const { store, id, fence } = await claimed();
        await store.append(id, fence, 0, [end('failed')]);
        expect(await store.getMeta(id)).toMatchObject({ status: 'failed', finishReason: 'error', error: { code: 'boom', message: 'it broke' }, lastOffset: 1, tokens: 0 });
        expect((await store.readEvents(id, 0, 10))[0]).toMatchObject({ kind: 'end', status: 'failed', error: { code: 'boom', message: 'it broke' } });
      });

      it('a stale fence gets FencedError and writes nothing', async () => {
        const { store, id, fence } = await claimed();
        await store.append(id, fence, 0, [tok('a')]);
        const newer = await store.claim(id, 'p2');
        expect(newer?.fence).toBe(fence + 1);
        expect(newer?.meta.lastOffset).toBe(1);
        await expect(store.append(id, fence, 1, [tok('stale')])).rejects.toBeInstanceOf(FencedError);
        // Even a "retry" of an applied append is refused once fenced: the new owner decides.
        await expect(store.append(id, fence, 0, [tok('a')])).rejects.toBeInstanceOf(FencedError);
        expect(await store.append(id, newer?.fence as number, 1, [tok('b')])).toEqual({ lastOffset: 2 });
        expect((await store.readEvents(id, 0, 10)).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b']);
      });

      it('nothing may follow the end: append after it gets EndedError, claim gets null', async () => {
        const { store, id, fence } = await claimed();
        await store.append(id, fence, 0, [tok('a'), end()]);
        await expect(store.append(id, fence, 2, [tok('late')])).rejects.toBeInstanceOf(EndedError);
        await expect(store.append(id, fence, 2, [end('failed')])).rejects.toBeInstanceOf(EndedError);
        expect(await store.claim(id, 'p2')).toBeNull();
        expect((await store.readEvents(id, 0, 10)).map((e) => e.offset)).toEqual([1, 2]);
        expect((await store.getMeta(id))?.status).toBe('completed');
      });

      it('a repeated identical append (its reply was lost) is idempotent', async () => {
        const { store, id, fence } = await claimed();
        const batch = [tok('x'), tok('y', 3)];
        expect(await store.append(id, fence, 0, batch)).toEqual({ lastOffset: 2 });
        expect(await store.append(id, fence, 0, batch)).toEqual({ lastOffset: 2 });
        const ending = [tok('z'), end()];
        expect(await store.append(id, fence, 2, ending)).toEqual({ lastOffset: 4 });
        // The retry of the batch that ended the generation answers the same, not EndedError.
        expect(await store.append(id, fence, 2, ending)).toEqual({ lastOffset: 4 });
        const evs = await store.readEvents(id, 0, 10);
        expect(evs.map((e) => e.offset)).toEqual([1, 2, 3, 4]);
        expect(await store.getMeta(id)).toMatchObject({ tokens: 5, lastOffset: 4, status: 'completed' });
      });

      it('a wrong afterOffset gets OffsetMismatchError and writes nothing', async () => {
        const { store, id, fence } = await claimed();
        await store.append(id, fence, 0, [tok('a'), tok('b')]);
        await expect(store.append(id, fence, 5, [tok('gap')])).rejects.toBeInstanceOf(OffsetMismatchError);
        await expect(store.append(id, fence, 0, [tok('behind')])).rejects.toBeInstanceOf(OffsetMismatchError);
        // Lands exactly on the newest offset but is not a retry of what is there.
        await expect(store.append(id, fence, 1, [tok('not b')])).rejects.toBeInstanceOf(OffsetMismatchError);
        await expect(store.append(id, fence, 0, [tok('a'), tok('not b')])).rejects.toBeInstanceOf(OffsetMismatchError);
        await expect(store.append(id, fence, 1, [end()])).rejects.toBeInstanceOf(OffsetMismatchError);
        expect((await store.readEvents(id, 0, 10)).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b']);
        expect(await store.getMeta(id)).toMatchObject({ lastOffset: 2, tokens: 2, status: 'running' });
      });

      it('a refused append leaves the log as it was: the next right append gets the next offset', async () => {
        const { store, id, fence } = await claimed();
        // Nothing written yet: an append that assumes events gets OffsetMismatchError.
        await expect(store.append(id, fence, 3, [tok('gap')])).rejects.toBeInstanceOf(OffsetMismatchError);
        expect(await store.append(id, fence, 0, [tok('a')])).toEqual({ lastOffset: 1 });
        await expect(store.append(id, fence, 4, [tok('gap')])).rejects.toBeInstanceOf(OffsetMismatchError);
        await expect(store.append(id, fence, 0, [tok('behind')])).rejects.toBeInstanceOf(OffsetMismatchError);
        expect(await store.append(id, fence, 1, [tok('b'), tok('c')])).toEqual({ lastOffset: 3 });
        expect((await store.readEvents(id, 0, 10)).map((e) => [e.offset, (e as TokenEvent).text])).toEqual([
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
        ]);
        expect(await store.getMeta(id)).toMatchObject({ lastOffset: 3, tokens: 3 });
      });

      it('appends to many generations at once each land in their own log; one refused append fails only its own', async () => {
        const engine = await make();
        const gens: { id: string; fence: number; last: number }[] = [];
        for (let g = 0; g < 40; g++) {
          const meta = newMeta();
          await engine.queue.enqueue(meta);
          const c = await engine.store.claim(meta.id, 'p1');
          gens.push({ id: meta.id, fence: c?.fence as number, last: 0 });
        }
        const stale = gens[7] as (typeof gens)[number];
        await engine.store.claim(stale.id, 'p2');
        for (let round = 0; round < 5; round++) {
          const results = await Promise.allSettled(gens.map((g) => engine.store.append(g.id, g.fence, g.last, [tok(`${g.id.slice(-4)}:${round}`)])));
          results.forEach((r, i) => {
            const g = gens[i] as (typeof gens)[number];
            if (g === stale) expect(r.status === 'rejected' && r.reason instanceof FencedError).toBe(true);
            else {
              expect(r).toEqual({ status: 'fulfilled', value: { lastOffset: round + 1 } });
              g.last = round + 1;
            }
          });
        }
        for (const g of gens) {
          const texts = (await engine.store.readEvents(g.id, 0, 10)).map((e) => (e as TokenEvent).text);
          expect(texts).toEqual(g === stale ? [] : [0, 1, 2, 3, 4].map((r) => `${g.id.slice(-4)}:${r}`));
          expect((await engine.store.getMeta(g.id))?.lastOffset).toBe(g === stale ? 0 : 5);
        }
      });

      it('appending to an unknown generation gets MissingGenerationError', async () => {
        const engine = await make();
        await expect(engine.store.append(newMeta().id, 1, 0, [tok('a')])).rejects.toBeInstanceOf(MissingGenerationError);
      });

      it('readEvents replays from any offset, at most `count` at a time', async () => {
        const { store, id, fence } = await claimed();
        const n = 25;
        let last = 0;
        for (let i = 0; i < n; i += 5) {
          const batch = Array.from({ length: 5 }, (_, j) => tok(`t${i + j + 1} `));
          last = (await store.append(id, fence, last, batch)).lastOffset;
        }
        await store.append(id, fence, last, [end()]);
        for (let k = 0; k <= n + 1; k++) {
          const evs = await store.readEvents(id, k, 1_000);
          expect(evs.map((e) => e.offset)).toEqual(Array.from({ length: n + 1 - k }, (_, i) => k + i + 1));
        }
        expect((await store.readEvents(id, 3, 4)).map((e) => e.offset)).toEqual([4, 5, 6, 7]);
        expect(await store.readEvents(id, 26, 10)).toEqual([]);
        expect(await store.readEvents(id, 1_000, 10)).toEqual([]);
        expect(await store.readEvents(newMeta().id, 0, 10)).toEqual([]);
      });
    });

    describe('tail', () => {
      it('delivers every generation in order, exactly once, from the offset it was added with', async () => {
        const engine = await make({ blockMs: 2_000 });
        const { store } = engine;
        const got = new Map<string, number[]>();
        const tail = store.openTail((id, evs) => {
          const list = got.get(id) ?? [];
          list.push(...evs.map((e) => e.offset));
          got.set(id, list);
        });
        cleanups.push(() => tail.close());

        const gens: { id: string; fence: number; from: number }[] = [];
        for (let g = 0; g < 30; g++) {
          const meta = newMeta();
          await engine.queue.enqueue(meta);
          const c = await store.claim(meta.id, 'p1');
          // Some already have events before the tail follows them; it starts where it was told.
          const pre = g % 3;
          if (pre > 0)
            await store.append(
              meta.id,
              c?.fence as number,
              0,
              Array.from({ length: pre * 2 }, () => tok('p')),
            );
          gens.push({ id: meta.id, fence: c?.fence as number, from: pre });
        }
        for (const g of gens) tail.add(g.id, g.from);
        expect(tail.size).toBe(30);

        const total = 20;
        const lastOf = new Map(gens.map((g) => [g.id, (g.from === 0 ? 0 : g.from * 2) as number]));
        // Interleaved writers, several batch shapes.
        for (let round = 0; lastOf.size > 0 && round < 100; round++) {
          for (const g of gens) {
            const last = lastOf.get(g.id);
            if (last === undefined) continue;
            const size = 1 + ((round + g.from) % 3);
            const batch: NewEvent[] = [];
            for (let i = 0; i < size && last + batch.length < total - 1; i++) batch.push(tok(`${round}`));
            if (last + batch.length === total - 1) batch.push(end());
            const res = await store.append(g.id, g.fence, last, batch);
            if (batch[batch.length - 1]?.kind === 'end') lastOf.delete(g.id);
            else lastOf.set(g.id, res.lastOffset);
          }
        }
        const complete = () => gens.every((g) => (got.get(g.id)?.length ?? 0) >= total - g.from);
        await waitFor('complete', complete, 10_000, 10);
        await sleep(100);
        for (const g of gens) {
          expect(got.get(g.id), g.id).toEqual(Array.from({ length: total - g.from }, (_, i) => g.from + i + 1));
        }
        // A generation is dropped once its end was delivered.
        expect(tail.size).toBe(0);
      });

      it('delivers events appended right after add(), with no gap before them', async () => {
        const { engine, store, id, fence } = await claimed();
        await store.append(id, fence, 0, [tok('1'), tok('2'), tok('3'), tok('4'), tok('5')]);
        const got: number[] = [];
        const tail = store.openTail((_id, evs) => got.push(...evs.map((e) => e.offset)));
        cleanups.push(() => tail.close());
        tail.add(id, 2);
        // Same tick as add(): the tail must still deliver 3..5 before 6.
        const appended = store.append(id, fence, 5, [tok('6')]);
        await appended;
        await waitFor('got.length >= 4', () => got.length >= 4, 5_000, 10);
        await store.append(id, fence, 6, [end()]);
        await waitFor('got.length >= 5', () => got.length >= 5, 5_000, 10);
        await sleep(50);
        expect(got).toEqual([3, 4, 5, 6, 7]);
        expect(engine.kind).toBeTruthy();
      });

      it('picks up a generation added while the tail is blocked, long before the block ends', async () => {
        const blockMs = 8_000;
        const engine = await make({ blockMs });
        const { store } = engine;
        const got = new Map<string, number[]>();
        const tail = store.openTail((id, evs) => got.set(id, [...(got.get(id) ?? []), ...evs.map((e) => e.offset)]));
        cleanups.push(() => tail.close());
        const idle = newMeta();
        await engine.queue.enqueue(idle);
        tail.add(idle.id, 0);
        // Let the read block on the idle generation.
        await sleep(300);

        for (let i = 0; i < 3; i++) {
          const meta = newMeta();
          await engine.queue.enqueue(meta);
          const c = await store.claim(meta.id, 'p1');
          tail.add(meta.id, 0);
          await sleep(100);
          const started = Date.now();
          await store.append(meta.id, c?.fence as number, 0, [tok('a')]);
          await waitFor('(got.get(meta.id)?.length ?? 0) === 1', () => (got.get(meta.id)?.length ?? 0) === 1, blockMs, 10);
          expect(Date.now() - started).toBeLessThan(2_500);
        }
      });

      it('stops delivering a generation once removed, and re-adding resumes from the new offset', async () => {
        const { store, id, fence } = await claimed({ blockMs: 1_000 });
        const got: number[] = [];
        const tail = store.openTail((_id, evs) => got.push(...evs.map((e) => e.offset)));
        cleanups.push(() => tail.close());
        tail.add(id, 0);
        await store.append(id, fence, 0, [tok('a')]);
        await waitFor('got.length === 1', () => got.length === 1, 5_000, 10);
        tail.remove(id);
        expect(tail.size).toBe(0);
        await store.append(id, fence, 1, [tok('b'), tok('c')]);
        await sleep(300);
        expect(got).toEqual([1]);
        tail.add(id, 2);
        await store.append(id, fence, 3, [end()]);
        await waitFor('got.length === 3', () => got.length === 3, 5_000, 10);
        await sleep(50);
        expect(got).toEqual([1, 3, 4]);
      });
    });

    describe('key store, limiter, presence, named queues', () => {
      it('key store: add, find by hash, revoke once, list names and revoked names', async () => {
        const engine = await make();
        const hash = 'a'.repeat(64);
        expect(await engine.keys.findByHash(hash)).toBeNull();
        await engine.keys.add('alice', hash);
        await engine.keys.add('bob', 'b'.repeat(64));
        expect(await engine.keys.findByHash(hash)).toBe('alice');
        expect((await engine.keys.names()).sort()).toEqual(['alice', 'bob']);
        expect(await engine.keys.revoke('alice')).toBe(true);
        expect(await engine.keys.revoke('alice')).toBe(false);
        // Keys from the environment are revoked by name too, without being stored.
        expect(await engine.keys.revoke('from-env')).toBe(true);
        expect([...(await engine.keys.revoked())].sort()).toEqual(['alice', 'from-env']);
      });

      it('limiter: counts hits per key within a window and says when it ends', async () => {
        const engine = await make();
        const key = `k${Math.random().toString(36).slice(2, 8)}`;
        const a = await engine.limiter.hit(key, 60_000);
        const b = await engine.limiter.hit(key, 60_000);
        const other = await engine.limiter.hit(`${key}x`, 60_000);
        expect([a.count, b.count, other.count]).toEqual([1, 2, 1]);
        expect(b.resetMs).toBeGreaterThan(0);
        expect(b.resetMs).toBeLessThanOrEqual(60_000);
      });

      it('presence: marks count until unmarked or lapsed', async () => {
        const engine = await make();
        const id = newMeta().id;
        expect(await engine.presence.count(id)).toBe(0);
        await engine.presence.mark(id, 'edge-a', 60_000);
        await engine.presence.mark(id, 'edge-b', 300);
        await engine.presence.mark(id, 'edge-a', 60_000); // a refresh, not a second member
        expect(await engine.presence.count(id)).toBe(2);
        await sleep(450);
        expect(await engine.presence.count(id)).toBe(1);
        await engine.presence.unmark(id, 'edge-a');
        expect(await engine.presence.count(id)).toBe(0);
      });

      it('named queues: a job goes only to the queue it was put in', async () => {
        const engine = await make();
        const gpu = engine.queueFor('gpu');
        const meta = newMeta();
        await gpu.enqueue(meta);
        expect(await engine.queue.take('c1', 10, 50)).toEqual([]);
        const jobs = await gpu.take('c1', 10, 500);
        expect(jobs.map((j) => j.generationId)).toEqual([meta.id]);
        expect(engine.queueFor('gpu')).toBe(gpu);
        expect((await engine.store.getMeta(meta.id))?.status).toBe('queued');
      });
    });

    describe('cancel', () => {
      it('requestCancel reaches every onCancel listener; false for unknown or ended generations', async () => {
        const { engine, store, id, fence } = await claimed();
        const heard: string[] = [];
        const heard2: string[] = [];
        const off = store.onCancel((g) => heard.push(g));
        const off2 = store.onCancel((g) => heard2.push(g));
        // A subscription may take a moment to be in place (pub/sub): ask again until heard.
        const deadline = Date.now() + 5_000;
        while (!heard.includes(id) && Date.now() < deadline) {
          expect(await store.requestCancel(id)).toBe(true);
          await waitFor('the cancel to be heard', () => heard.includes(id), 200, 10).catch(() => {});
        }
        expect(heard).toContain(id);
        await waitFor('heard2.includes(id)', () => heard2.includes(id), 2_000, 10);
        off2();
        heard.length = 0;
        heard2.length = 0;
        expect(await store.requestCancel(id)).toBe(true);
        await waitFor('heard.includes(id)', () => heard.includes(id), 2_000, 10);
        await sleep(100);
        expect(heard2).toEqual([]);
        off();

        expect(await store.requestCancel(newMeta().id)).toBe(false);
        await store.append(id, fence, 0, [end('cancelled')]);
        expect(await store.requestCancel(id)).toBe(false);
        expect(await store.getMeta(id)).toMatchObject({ status: 'cancelled', finishReason: 'cancelled' });
        expect(engine.kind).toMatch(/memory|redis/);
      });
    });

    describe('delete', () => {
      it('forgets the meta and the events; a writer still running is refused; false when unknown', async () => {
        const { store, id, fence } = await claimed();
        await store.append(id, fence, 0, [tok('a'), tok('b')]);
        expect(await store.delete(id)).toBe(true);
        expect(await store.getMeta(id)).toBeNull();
        expect(await store.readEvents(id, 0, 10)).toEqual([]);
        await expect(store.append(id, fence, 2, [tok('c')])).rejects.toThrow();
        expect(await store.delete(id)).toBe(false);
      });
    });

    describe('expiry', () => {
      it('a generation vanishes once its TTL passes without writes', async () => {
        const { engine, store, id, fence } = await claimed({ ttlSeconds: 2 });
        // A queued generation nobody picks up expires too.
        const queued = newMeta();
        await engine.queue.enqueue(queued);
        expect(await store.getMeta(queued.id)).not.toBeNull();
        await store.append(id, fence, 0, [tok('a')]);
        // Writes extend the TTL.
        await sleep(1_200);
        await store.append(id, fence, 1, [tok('b')]);
        await sleep(1_200);
        expect((await store.getMeta(id))?.lastOffset).toBe(2);
        expect(await store.readEvents(id, 0, 10)).toHaveLength(2);
        expect(await store.getMeta(queued.id)).toBeNull();
        await sleep(1_300);
        expect(await store.getMeta(id)).toBeNull();
        expect(await store.readEvents(id, 0, 10)).toEqual([]);
        expect(await store.claim(id, 'p2')).toBeNull();
        await expect(store.append(id, fence, 2, [tok('c')])).rejects.toBeInstanceOf(MissingGenerationError);
        expect(await store.requestCancel(id)).toBe(false);
      });
    });
  });
}
