import { setTimeout as sleep } from 'node:timers/promises';
import { type GenerationRequest, promptText } from '@tokencast/protocol';
import { UpstreamError } from './errors.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

/**
 * The built-in deterministic model. Token i's text is a pure function of (prompt, i), so any two
 * runs, any producer, and a producer that resumes a reclaimed generation all write the same text.
 *
 * Its natural length is 64–511 tokens, chosen by the prompt's hash; it ends there with `stop`,
 * or earlier with `length` when max_tokens is smaller. Two directives in the prompt serve tests
 * and benchmarks: `[mock:len=N]` sets the natural length (1–1 000 000) and `[mock:fail=N]` makes
 * the model fail after N tokens.
 */
export interface MockOptions {
  tokensPerSecond: number;
  /** ms before the first token. */
  ttftMs: number;
}

const WORDS = (
  'the of stream token edge redis model replay offset cluster viewer client producer queue ' +
  'latency window cursor event resume signal byte socket proxy node reader writer fence batch ' +
  'light river stone cloud harbor lantern meadow quiet swift amber copper silver orbit pulse'
).split(' ');

/** FNV-1a, 32-bit: small, fast, and the same everywhere. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function mockNaturalLength(prompt: string): number {
  const m = /\[mock:len=(\d{1,7})\]/.exec(prompt);
  if (m) return Math.min(1_000_000, Math.max(1, Number(m[1])));
  return 64 + (fnv1a(prompt) % 448);
}

export function mockToken(prompt: string, i: number, seed = fnv1a(prompt)): string {
  const h = fnv1a(`${seed}:${i}`);
  const word = WORDS[h % WORDS.length] as string;
  if (i === 0) return word.charAt(0).toUpperCase() + word.slice(1);
  // Roughly one sentence in twelve tokens.
  return h % 12 === 0 ? `. ${word.charAt(0).toUpperCase()}${word.slice(1)}` : ` ${word}`;
}

/** The whole text the mock writes for a request: used by tests as the reference. */
export function mockText(req: GenerationRequest): { text: string; tokens: number; finishReason: 'stop' | 'length' } {
  const prompt = promptText(req);
  const natural = mockNaturalLength(prompt);
  const n = req.maxTokens === null ? natural : Math.min(natural, req.maxTokens);
  const seed = fnv1a(prompt);
  let text = '';
  for (let i = 0; i < n; i++) text += mockToken(prompt, i, seed);
  return { text, tokens: n, finishReason: n < natural ? 'length' : 'stop' };
}

export function promptTokens(prompt: string): number {
  return prompt.split(/\s+/).filter(Boolean).length;
}

export class MockProvider implements Provider {
  readonly name = 'mock';
  readonly canResume = true;

  constructor(private readonly opts: MockOptions) {}

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    const prompt = promptText(req);
    const natural = mockNaturalLength(prompt);
    const n = req.maxTokens === null ? natural : Math.min(natural, req.maxTokens);
    const failAt = /\[mock:fail=(\d{1,7})\]/.exec(prompt);
    const seed = fnv1a(prompt);
    const interval = 1000 / this.opts.tokensPerSecond;
    const start = performance.now();
    const first = ctx.resumeTokens;
    let sinceYield = 0;
    for (let i = first; i < n; i++) {
      if (failAt && i >= Number(failAt[1])) {
        const said = `mock model failed after ${failAt[1]} tokens, as asked`;
        throw new UpstreamError('model', said, { publicMessage: said });
      }
      // Tokens are due on a fixed schedule; a late timer emits every token already due at once.
      const due = (i === first ? this.opts.ttftMs : this.opts.ttftMs + (i - first) * interval) - (performance.now() - start);
      if (due >= 1) {
        await sleep(due, undefined, { signal: ctx.signal }).catch(() => {});
        sinceYield = 0;
      } else if (++sinceYield >= 64) {
        // Far behind schedule (very high rates): let I/O run so the writer can flush.
        await new Promise((resolve) => setImmediate(resolve));
        sinceYield = 0;
      }
      if (ctx.signal.aborted) return;
      yield { type: 'text', text: mockToken(prompt, i, seed), tokens: 1 };
    }
    yield { type: 'end', finishReason: n < natural ? 'length' : 'stop', usage: { prompt_tokens: promptTokens(prompt), completion_tokens: n } };
  }

  /** Nothing to release: the mock holds no connections. */
  async close(): Promise<void> {}
}
