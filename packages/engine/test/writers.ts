import type { TokenEvent } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';
import { type Engine, FencedError, OffsetMismatchError } from '../src/index.js';
import { end, newMeta, tok } from './conformance.js';

/**
 * Writers in different processes (issue #13): a token is a plain `XADD <offset>-<fence>` with no
 * script, so fencing rests on the ids and on claim-2.lua moving the stream's last id. Each test
 * opens two engines on one prefix, as two producers would be.
 */
export function writersAcrossProcesses(name: string, open: () => Promise<{ a: Engine; b: Engine; entryIds(id: string): Promise<string[]> }>): void {
  describe(`${name}: writers in two processes`, () => {
    it('a writer fenced by a claim elsewhere is refused at its next token, before the claimer writes anything', async () => {
      const { a, b, entryIds } = await open();
      const meta = newMeta();
      await a.queue.enqueue(meta);
      const first = await a.store.claim(meta.id, 'p1');
      const fence = first?.fence as number;
      expect(await a.store.append(meta.id, fence, 0, [tok('a')])).toEqual({ lastOffset: 1 });
      expect(await a.store.append(meta.id, fence, 1, [tok('b')])).toEqual({ lastOffset: 2 }); // plain XADD
      const second = await b.store.claim(meta.id, 'p2');
      expect(second?.meta.lastOffset).toBe(2);
      // p1 still thinks it owns the generation: on one Redis its next token is a plain XADD of 3-1.
      await expect(a.store.append(meta.id, fence, 2, [tok('stale')])).rejects.toBeInstanceOf(FencedError);
      await expect(a.store.append(meta.id, fence, 2, [tok('stale'), end()])).rejects.toBeInstanceOf(FencedError);
      const f2 = second?.fence as number;
      expect(await b.store.append(meta.id, f2, 2, [tok('x')])).toEqual({ lastOffset: 3 });
      expect(await b.store.append(meta.id, f2, 3, [tok('y')])).toEqual({ lastOffset: 4 });
      await expect(a.store.append(meta.id, fence, 2, [tok('stale')])).rejects.toBeInstanceOf(FencedError);
      expect(await b.store.append(meta.id, f2, 4, [end()])).toEqual({ lastOffset: 5 });
      const events = await b.store.readEvents(meta.id, 0, 10);
      expect(events.map((e) => e.offset)).toEqual([1, 2, 3, 4, 5]);
      expect(events.slice(0, 4).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b', 'x', 'y']);
      // What an operator sees in redis-cli: <offset>-<fence>.
      expect(await entryIds(meta.id)).toEqual([`1-${fence}`, `2-${fence}`, `3-${f2}`, `4-${f2}`, `5-${f2}`]);
      expect(await b.store.getMeta(meta.id)).toMatchObject({ status: 'completed', lastOffset: 5, tokens: 4 });
    });

    it('a writer fenced before its first token (a plain XADD too) is refused, however many claims came between', async () => {
      const { a, b, entryIds } = await open();
      const meta = newMeta();
      await a.queue.enqueue(meta);
      const f1 = (await a.store.claim(meta.id, 'p1'))?.fence as number;
      // Two claims elsewhere before p1 wrote anything: the stream is still empty.
      const f2 = (await b.store.claim(meta.id, 'p2'))?.fence as number;
      const f3 = (await b.store.claim(meta.id, 'p3'))?.fence as number;
      expect(await entryIds(meta.id)).toEqual([]);
      await expect(a.store.append(meta.id, f1, 0, [tok('stale')])).rejects.toBeInstanceOf(FencedError);
      await expect(b.store.append(meta.id, f2, 0, [tok('stale too')])).rejects.toBeInstanceOf(FencedError);
      expect(await b.store.append(meta.id, f3, 0, [tok('a')])).toEqual({ lastOffset: 1 });
      expect(await b.store.append(meta.id, f3, 1, [tok('b')])).toEqual({ lastOffset: 2 });
      await expect(a.store.append(meta.id, f1, 0, [tok('stale')])).rejects.toBeInstanceOf(FencedError);
      expect(await entryIds(meta.id)).toEqual([`1-${f3}`, `2-${f3}`]);
      expect((await a.store.readEvents(meta.id, 0, 10)).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b']);
    });

    it('claims in a row shut out every earlier writer, and the newest continues without a gap', async () => {
      const { a, b, entryIds } = await open();
      const meta = newMeta();
      await a.queue.enqueue(meta);
      const f1 = (await a.store.claim(meta.id, 'p1'))?.fence as number;
      await a.store.append(meta.id, f1, 0, [tok('a')]);
      await a.store.append(meta.id, f1, 1, [tok('b')]);
      const f2 = (await b.store.claim(meta.id, 'p2'))?.fence as number;
      const third = await a.store.claim(meta.id, 'p3');
      const f3 = third?.fence as number;
      expect(third?.meta.lastOffset).toBe(2);
      await expect(b.store.append(meta.id, f2, 2, [tok('p2')])).rejects.toBeInstanceOf(FencedError);
      expect(await a.store.append(meta.id, f3, 2, [tok('c')])).toEqual({ lastOffset: 3 });
      expect(await a.store.append(meta.id, f3, 3, [tok('d')])).toEqual({ lastOffset: 4 });
      await expect(b.store.append(meta.id, f2, 2, [tok('p2')])).rejects.toBeInstanceOf(FencedError);
      expect((await a.store.readEvents(meta.id, 0, 10)).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b', 'c', 'd']);
      expect(await entryIds(meta.id)).toEqual([`1-${f1}`, `2-${f1}`, `3-${f3}`, `4-${f3}`]);
    });

    it('a writer in another process that retries an applied token gets the same offset, and the log stays one copy', async () => {
      const { a, b } = await open();
      const meta = newMeta();
      await a.queue.enqueue(meta);
      const fence = (await a.store.claim(meta.id, 'p1'))?.fence as number;
      await a.store.append(meta.id, fence, 0, [tok('a')]);
      expect(await a.store.append(meta.id, fence, 1, [tok('b')])).toEqual({ lastOffset: 2 });
      // The same fence from a process that lost the reply (it never claimed here).
      expect(await b.store.append(meta.id, fence, 1, [tok('b')])).toEqual({ lastOffset: 2 });
      expect(await a.store.append(meta.id, fence, 2, [tok('c')])).toEqual({ lastOffset: 3 });
      expect((await b.store.readEvents(meta.id, 0, 10)).map((e) => (e as TokenEvent).text)).toEqual(['a', 'b', 'c']);
    });
  });
}

/**
 * A writer's next append after its store lost the newest events behind its back (a restart, a
 * failover), retried while its connection comes back: what refused it, or null once one was
 * written (the gap the tests that call this must never see).
 */
export async function appendAfterLoss(engine: Engine, id: string, fence: number, after: number): Promise<unknown> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await engine.store.append(id, fence, after, [tok('after the gap')]);
      return null;
    } catch (err) {
      if (err instanceof OffsetMismatchError) return err;
      await new Promise((r) => setTimeout(r, 100)); // the connection is coming back
    }
  }
  return null;
}
