import type { GenerationRequest, Usage } from '@tokencast/protocol';
import { UpstreamError } from './errors.js';
import { MockScript } from './mock-script.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

export { fnv1a, MOCK_REASONING_MODEL, mockNaturalLength, mockToken, promptTokens } from './mock-script.js';

/**
 * The built-in deterministic model (its script: mock-script.ts). Step i of its output is a pure
 * function of (request, i), so any two runs, any producer, and a producer that resumes a
 * reclaimed generation all write the same events.
 *
 * Plain text by default: its natural length is 64–511 tokens, chosen by the prompt's hash; it
 * ends there with `stop`, or earlier with `length` when max_tokens is smaller. With tools and
 * tool_choice required / named (or `[mock:tool]`) it calls a tool; with `mock-reasoning`,
 * `[mock:reasoning]` or a reasoning effort it reasons first; with response_format it writes JSON.
 * `[mock:len=N]` sets the natural length (1–1 000 000) and `[mock:fail=N]` makes the model fail
 * after N token steps.
 */
export interface MockOptions {
  tokensPerSecond: number;
  /** ms before the first token. */
  ttftMs: number;
}

/** One output part of the mock's reference (what a client should reassemble). */
export type MockPart =
  | { type: 'reasoning'; text: string; signature: string }
  | { type: 'text'; text: string }
  | { type: 'tool_call'; index: number; id: string; name: string; arguments: string };

/** Everything the mock writes for a request, by part: the reference tests compare against exactly. */
export function mockOutput(req: GenerationRequest): { parts: MockPart[]; finishReason: 'stop' | 'length' | 'tool_calls'; usage: Partial<Usage> } {
  const script = new MockScript(req);
  const stop = script.stop();
  const parts: MockPart[] = [];
  for (let i = 0; i < stop.steps; i++) {
    const ev = script.step(i);
    const last = parts[parts.length - 1];
    if (ev.type === 'reasoning') {
      if (last?.type === 'reasoning') last.text += ev.text;
      else parts.push({ type: 'reasoning', text: ev.text, signature: '' });
    } else if (ev.type === 'reasoning_signature') {
      if (last?.type === 'reasoning') last.signature = ev.signature;
    } else if (ev.type === 'text') {
      if (last?.type === 'text') last.text += ev.text;
      else parts.push({ type: 'text', text: ev.text });
    } else if (ev.type === 'tool_call') parts.push({ type: 'tool_call', index: ev.index, id: ev.id, name: ev.name, arguments: '' });
    else if (ev.type === 'tool_args' && last?.type === 'tool_call') last.arguments += ev.args;
  }
  return { parts, finishReason: stop.finishReason, usage: script.usage() };
}

/** The text the mock writes for a request (its text part; '' when it calls a tool): used by tests as the reference. */
export function mockText(req: GenerationRequest): { text: string; tokens: number; finishReason: 'stop' | 'length' | 'tool_calls' } {
  const out = mockOutput(req);
  const text = out.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
  return { text, tokens: out.usage.completion_tokens ?? 0, finishReason: out.finishReason };
}

export class MockProvider implements Provider {
  readonly name = 'mock';
  readonly canResume = true;

  constructor(private readonly opts: MockOptions) {}

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    const script = new MockScript(req);
    const stop = script.stop();
    const failAt = /\[mock:fail=(\d{1,7})\]/.exec(script.prompt);
    const interval = 1000 / this.opts.tokensPerSecond;
    const start = performance.now();
    // Tokens and markers already published locate the next step exactly (see mock-script.ts).
    const first = ctx.resumeTokens + (ctx.resumeMarkers ?? 0);
    const { signal } = ctx;
    // One abort listener for the whole generation, not one per token: timers/promises' sleep with
    // a signal adds and removes one each time, 3 % of a busy producer's CPU (issue #13).
    let wake: (() => void) | null = null;
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    try {
      let sinceYield = 0;
      for (let i = first; i < stop.steps; i++) {
        if (failAt && i >= Number(failAt[1])) {
          const said = `mock model failed after ${failAt[1]} tokens, as asked`;
          throw new UpstreamError('model', said, { publicMessage: said });
        }
        // Steps are due on a fixed schedule; a late timer emits every step already due at once.
        const due = (i === first ? this.opts.ttftMs : this.opts.ttftMs + (i - first) * interval) - (performance.now() - start);
        if (due >= 1) {
          await sleep(due);
          sinceYield = 0;
        } else if (++sinceYield >= 64) {
          // Far behind schedule (very high rates): let I/O run so the writer can flush.
          await new Promise((resolve) => setImmediate(resolve));
          sinceYield = 0;
        }
        if (signal.aborted) return;
        yield script.step(i);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    yield { type: 'end', finishReason: stop.finishReason, usage: script.usage() };
  }

  /** Nothing to release: the mock holds no connections. */
  async close(): Promise<void> {}
}
