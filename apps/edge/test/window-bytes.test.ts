import { createMemoryEngine } from '@tokencast/engine';
import { parseChatRequest, queuedMeta, type StoredEvent } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';
import { Channel } from '../src/fanout/channel.js';
import type { Entry, Sink } from '../src/fanout/sink.js';

/** Issue #14, item 9 (edge half): what one generation's huge events can make an edge keep. */
class Collect implements Sink {
  cursor = 0;
  closed = false;
  offsets: number[] = [];
  push(entries: readonly Entry[]): boolean {
    for (const e of entries) this.offsets.push(e.ev.offset);
    this.cursor = (entries[entries.length - 1] as Entry).ev.offset;
    return true;
  }
  onResume(): void {}
  fail(): void {
    this.closed = true;
  }
}

const token = (offset: number, bytes: number): StoredEvent => ({ kind: 'token', offset, text: 'x'.repeat(bytes), tokens: 1, ms: [offset] });

describe('#14.9 edge fan-out sizes', () => {
  it('#14.9 the edge fan-out bounds the bytes it keeps per generation window (EDGE_WINDOW_BYTES), however large the events', async () => {
    const engine = createMemoryEngine();
    const request = parseChatRequest({ model: 'mock', messages: [{ role: 'user', content: 'x' }] }, { maxTokensCap: 100, maxPromptChars: 100, maxMediaBytes: 0 });
    const ch = new Channel('gen_aaaaaaaaaaaaaaaaaaaaaaaaaa', queuedMeta('gen_aaaaaaaaaaaaaaaaaaaaaaaaaa', request), engine.store, {
      windowSize: 4_096,
      readBatch: 512,
      windowBytes: 1_048_576,
    });
    const live = new Collect();
    ch.attach(live);
    await new Promise((r) => setImmediate(r));
    // Ten 3 MB tokens (a hostile upstream), then small ones.
    for (let i = 1; i <= 10; i++) ch.append([token(i, 3 * 1_048_576)]);
    expect(ch.retainedBytes).toBeLessThanOrEqual(1_048_576);
    for (let i = 11; i <= 400; i++) ch.append([token(i, 10_000)]);
    expect(ch.retainedBytes).toBeLessThanOrEqual(1_048_576);
    expect(ch.retainedBytes).toBeGreaterThan(900_000); // still a useful window of the small ones
    // The live viewer got every event, in order, the huge ones included.
    expect(live.offsets).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    await engine.close();
  });
});
