import type { Engine, NewEvent } from '@tokencast/engine';
import { newGenerationId, queuedMeta } from '@tokencast/protocol';

/**
 * A generation of `owner`'s (a key name; '' for none) written straight to the store: queued,
 * claimed by a stand-in producer, and `events` appended after offset 0. For edge tests that need
 * exact events (sizes, counts, an end or not) without running a model.
 */
export async function writeGeneration(engine: Engine, events: readonly NewEvent[], owner = ''): Promise<string> {
  const meta = queuedMeta(
    newGenerationId(),
    { kind: 'chat', model: 'mock', messages: [{ role: 'user', content: 'x' }], prompt: '', maxTokens: null, stream: true, includeUsage: false, params: {} },
    owner,
  );
  await engine.queue.enqueue(meta);
  const claim = await engine.store.claim(meta.id, 'test');
  if (!claim) throw new Error(`could not claim ${meta.id}`);
  await engine.store.append(meta.id, claim.fence, 0, events);
  return meta.id;
}
