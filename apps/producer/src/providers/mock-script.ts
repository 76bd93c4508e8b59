import type { GenerationRequest, TokenLogprob, ToolDefinition, Usage } from '@tokencast/protocol';
import { promptText } from '@tokencast/protocol';
import type { ProviderEvent } from './provider.js';

/**
 * What the mock model produces for a request, as a deterministic sequence of steps: step i is a
 * pure function of (request, i), so any producer, and one that continues a reclaimed generation
 * from step `resumeTokens + resumeMarkers`, writes exactly the same events. Every step carries
 * one token except the markers (a reasoning signature, a tool call's start), which carry none.
 *
 * Shape of the output, in order:
 *   1. reasoning (when asked for): R reasoning tokens, then a signature
 *   2. either a tool call (start, then its JSON arguments in pieces, finish `tool_calls`),
 *      or JSON text (response_format json_object / json_schema), or plain words (as always).
 * max_tokens counts every token step (reasoning included, as OpenAI's max_completion_tokens does);
 * reaching it ends the generation with `length`.
 *
 * Prompt directives (tests and demos need no upstream): `[mock:len=N]` natural text length,
 * `[mock:fail=N]` fail after N tokens, `[mock:tool]` call a tool when tools are given,
 * `[mock:reasoning]` / `[mock:reasoning=N]` reason first (N tokens).
 */

const WORDS = (
  'the of stream token edge redis model replay offset cluster viewer client producer queue ' +
  'latency window cursor event resume signal byte socket proxy node reader writer fence batch ' +
  'light river stone cloud harbor lantern meadow quiet swift amber copper silver orbit pulse'
).split(' ');

/** Model names that reason before they answer (served by the mock when MOCK_MODELS lists them). */
export const MOCK_REASONING_MODEL = 'mock-reasoning';

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

export function promptTokens(prompt: string): number {
  return prompt.split(/\s+/).filter(Boolean).length;
}

/** A value for a JSON Schema, chosen by hash: every property the schema lists, of its type. */
export function valueForSchema(schema: unknown, seed: number, path = '', depth = 0): unknown {
  const h = fnv1a(`${seed}:${path}`);
  if (typeof schema !== 'object' || schema === null || depth > 8) return WORDS[h % WORDS.length];
  const s = schema as Record<string, unknown>;
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[h % s.enum.length];
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    const alts = s[k];
    if (Array.isArray(alts) && alts.length > 0) return valueForSchema(alts[0], seed, path, depth + 1);
  }
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'object' || (type === undefined && typeof s.properties === 'object' && s.properties !== null)) {
    const props = (typeof s.properties === 'object' && s.properties !== null ? s.properties : {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    // Every listed property, then any required one the listing lacks.
    const required = Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === 'string') : [];
    for (const key of [...Object.keys(props), ...required.filter((r) => !(r in props))]) out[key] = valueForSchema(props[key], seed, `${path}.${key}`, depth + 1);
    return out;
  }
  if (type === 'array') {
    const n = Math.max(1, typeof s.minItems === 'number' ? s.minItems : 1);
    return Array.from({ length: Math.min(n, 8) }, (_, i) => valueForSchema(s.items, seed, `${path}[${i}]`, depth + 1));
  }
  if (type === 'integer' || type === 'number') {
    const min = typeof s.minimum === 'number' ? s.minimum : 0;
    const max = typeof s.maximum === 'number' ? s.maximum : min + 100;
    const span = Math.max(0, Math.floor(max - min));
    const v = Math.ceil(min) + (span > 0 ? h % (span + 1) : 0);
    return type === 'integer' ? Math.min(v, Math.floor(max)) : Math.min(v + (h % 100) / 100, max);
  }
  if (type === 'boolean') return h % 2 === 0;
  if (type === 'null') return null;
  const word = WORDS[h % WORDS.length] as string;
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  return word.length >= min ? word : word.padEnd(min, word);
}

/** Splits a JSON text into deterministic pieces of 3–7 characters (at least two when it can). */
export function jsonPieces(json: string, seed: number): string[] {
  const out: string[] = [];
  for (let at = 0, i = 0; at < json.length; i++) {
    const n = 3 + (fnv1a(`${seed}:piece:${i}`) % 5);
    out.push(json.slice(at, at + n));
    at += n;
  }
  return out;
}

interface Plan {
  prompt: string;
  seed: number;
  /** Reasoning tokens (0: no reasoning, no signature). */
  reasoning: number;
  signature: string;
  /** The tool call, when the model calls one. */
  tool: { id: string; name: string; pieces: string[] } | null;
  /** JSON text pieces (response_format), null for plain words. */
  json: string[] | null;
  /** Plain words: the natural length. */
  words: number;
  logprobs: boolean;
  topLogprobs: number;
}

function chosenTool(req: GenerationRequest, prompt: string): ToolDefinition | null {
  const tools = req.tools ?? [];
  if (tools.length === 0 || req.toolChoice === 'none') return null;
  const choice = req.toolChoice;
  if (typeof choice === 'object') return tools.find((t) => t.function.name === choice.function.name) ?? null;
  const last = req.messages[req.messages.length - 1];
  // A directive asks for one call per turn: once the tool has answered, the model answers in text.
  const directed = /\[mock:tool\]/.test(prompt) && last?.role !== 'tool';
  return choice === 'required' || directed ? (tools[0] as ToolDefinition) : null;
}

function plan(req: GenerationRequest): Plan {
  const prompt = promptText(req);
  const seed = fnv1a(prompt);
  const asked = /\[mock:reasoning(?:=(\d{1,5}))?\]/.exec(prompt);
  const wantsReasoning = req.model === MOCK_REASONING_MODEL || asked !== null || (req.reasoning !== undefined && req.reasoning.effort !== 'none');
  const reasoning = !wantsReasoning ? 0 : asked?.[1] ? Math.max(1, Number(asked[1])) : 8 + (seed % 17);
  const signature = Buffer.from(`mock-signature:${seed.toString(16)}:${reasoning}`).toString('base64');
  const tool = chosenTool(req, prompt);
  const id = `call_${seed.toString(16).padStart(8, '0')}${fnv1a(`${seed}:id`).toString(16).padStart(8, '0')}`;
  const toolPlan = tool ? { id, name: tool.function.name, pieces: jsonPieces(JSON.stringify(valueForSchema(tool.function.parameters ?? {}, seed)), seed) } : null;
  let json: string[] | null = null;
  const rf = req.responseFormat;
  if (!toolPlan && rf && rf.type !== 'text') {
    const value =
      rf.type === 'json_schema' && rf.json_schema.schema
        ? valueForSchema(rf.json_schema.schema, seed)
        : {
            answer: Array.from({ length: 6 }, (_, i) => mockToken(prompt, i, seed))
              .join('')
              .trim(),
          };
    json = jsonPieces(JSON.stringify(value), seed);
  }
  return {
    prompt,
    seed,
    reasoning,
    signature,
    tool: toolPlan,
    json,
    words: mockNaturalLength(prompt),
    logprobs: req.logprobs === true,
    topLogprobs: req.topLogprobs ?? 0,
  };
}

/** Deterministic logprobs of a text piece (token = the piece). */
function logprobsOf(p: Plan, text: string, i: number): TokenLogprob[] {
  const lp = (k: number) => -((fnv1a(`${p.seed}:lp:${i}:${k}`) % 5000) / 1000) - (k === 0 ? 0 : 5);
  const bytes = (t: string) => [...Buffer.from(t, 'utf8')];
  const top = Array.from({ length: p.topLogprobs }, (_, k) => {
    const t = k === 0 ? text : ` ${WORDS[fnv1a(`${p.seed}:alt:${i}:${k}`) % WORDS.length]}`;
    return { token: t, logprob: lp(k), bytes: bytes(t) };
  });
  return [{ token: text, logprob: lp(0), bytes: bytes(text), top_logprobs: top }];
}

/** Everything the mock will write for a request; steps are computed lazily from it. */
export class MockScript {
  private readonly p: Plan;
  /** Steps in the whole script (before max_tokens). */
  readonly length: number;
  /** Token steps allowed by max_tokens. */
  private readonly maxTokens: number;

  constructor(req: GenerationRequest) {
    this.p = plan(req);
    const reasoningSteps = this.p.reasoning > 0 ? this.p.reasoning + 1 : 0;
    const main = this.p.tool ? 1 + this.p.tool.pieces.length : this.p.json ? this.p.json.length : this.p.words;
    this.length = reasoningSteps + main;
    this.maxTokens = req.maxTokens ?? Number.POSITIVE_INFINITY;
  }

  get prompt(): string {
    return this.p.prompt;
  }

  /** True when step i carries no token (a signature or a tool call's start). */
  isMarker(i: number): boolean {
    const r = this.p.reasoning;
    if (r > 0 && i === r) return true;
    return this.p.tool !== null && i === (r > 0 ? r + 1 : 0);
  }

  /** Step i (0 ≤ i < length). */
  step(i: number): Exclude<ProviderEvent, { type: 'end' }> {
    const p = this.p;
    if (p.reasoning > 0) {
      if (i < p.reasoning) return { type: 'reasoning', text: mockToken(p.prompt, i, p.seed ^ 0x5bd1e995), tokens: 1 };
      if (i === p.reasoning) return { type: 'reasoning_signature', signature: p.signature };
      i -= p.reasoning + 1;
    }
    if (p.tool) {
      if (i === 0) return { type: 'tool_call', index: 0, id: p.tool.id, name: p.tool.name };
      return { type: 'tool_args', index: 0, args: p.tool.pieces[i - 1] as string };
    }
    const text = p.json ? (p.json[i] as string) : mockToken(p.prompt, i, p.seed);
    return p.logprobs ? { type: 'text', text, tokens: 1, logprobs: logprobsOf(p, text, i) } : { type: 'text', text, tokens: 1 };
  }

  /**
   * Where the script stops: the step index it ends before, and the finish reason. Token steps
   * beyond max_tokens are not written (finish `length`).
   */
  stop(): { steps: number; finishReason: 'stop' | 'length' | 'tool_calls'; tokens: number; reasoningTokens: number } {
    let tokens = 0;
    let reasoningTokens = 0;
    // Walk only as far as max_tokens can reach: the markers are few, so this is O(min(length, max_tokens)).
    for (let i = 0; i < this.length; i++) {
      if (!this.isMarker(i)) {
        if (tokens === this.maxTokens) return { steps: i, finishReason: 'length', tokens, reasoningTokens };
        tokens += 1;
        if (i < this.p.reasoning) reasoningTokens += 1;
      }
    }
    return { steps: this.length, finishReason: this.p.tool ? 'tool_calls' : 'stop', tokens, reasoningTokens };
  }

  /** The usage the mock reports at the end. */
  usage(): Partial<Usage> {
    const s = this.stop();
    const u: Partial<Usage> = { prompt_tokens: promptTokens(this.p.prompt), completion_tokens: s.tokens };
    if (this.p.reasoning > 0) u.completion_tokens_details = { reasoning_tokens: s.reasoningTokens };
    return u;
  }
}
