import type { CacheControl, ChatMessage, ContentPart, GenerationRequest } from '@tokencast/protocol';
import { UpstreamError } from './errors.js';

/**
 * The normalised (OpenAI chat shaped) request as an Anthropic Messages request body. Everything
 * in it is translated or refused with `unsupported_by_upstream` before anything is sent; nothing
 * is dropped without a word. The translation, field by field:
 *
 *   system / developer messages  → `system` (their text, joined by newlines; text blocks as given
 *                                  when one carries cache_control)
 *   cache_control                → as given, on the same system block, text, image, tool_use or
 *                                  tool_result block or tool (a /v1/messages caller's breakpoints)
 *   user content parts           → text blocks; image_url → image block (data: URL → base64 source,
 *                                  anything else → url source); input_audio → refused
 *   assistant message            → thinking block (when its reasoning carries a signature: Anthropic
 *                                  only takes back thinking it signed) or redacted_thinking block,
 *                                  text block, tool_use blocks
 *   tool messages                → tool_result blocks, first in the next user turn
 *   tools                        → {name, description, input_schema (parameters, or an empty object schema), strict}
 *   tool_choice                  → auto / none / required → any / {function:{name}} → tool
 *   parallel_tool_calls: false   → tool_choice.disable_parallel_tool_use
 *   response_format json_schema  → output_config.format {type: json_schema, schema}; json_object → refused
 *   reasoning                    → thinking {type: enabled, budget_tokens}: the budget given, or by
 *                                  effort minimal 1024, low 2048, medium 8192, high 24576, xhigh 32768
 *                                  (none: no thinking); max_tokens
 *                                  grows by the budget when the caller set none
 *   stop → stop_sequences; temperature, top_p, top_k as given; service_tier auto / standard_only
 *   metadata.user_id, user or safety_identifier → metadata.user_id
 *   store, prompt_cache_key, prompt_cache_retention → not sent (OpenAI storage and caching hints,
 *                                  no content; Anthropic caches by cache_control markers)
 *   logprobs, top_logprobs, seed, presence/frequency/repetition penalties, min_p, logit_bias,
 *   verbosity, other metadata keys → refused
 *   message `name` fields        → not sent (the Messages API has no participant names)
 */
export function anthropicBody(req: GenerationRequest, defaultMaxTokens: number): Record<string, unknown> {
  const body: Record<string, unknown> = { model: req.model, stream: true };
  const system: Block[][] = [];
  const turns: Turn[] = [];
  if (req.kind === 'completion') turns.push({ role: 'user', content: [{ type: 'text', text: req.prompt }] });
  req.messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (m.role === 'system' || m.role === 'developer') system.push(systemBlocks(m.content, where));
    else if (m.role === 'user') push(turns, 'user', userBlocks(m.content, where));
    else if (m.role === 'assistant') push(turns, 'assistant', assistantBlocks(m, where));
    else push(turns, 'user', [toolResult(m, where)]);
  });
  body.messages = turns.map((t) => ({ role: t.role, content: t.content }));
  // A plain string unless a block carries a breakpoint: the form every caller's system prompt had before.
  if (system.some((blocks) => blocks.some((b) => b.cache_control !== undefined))) body.system = system.flat();
  else if (system.length) body.system = system.map((blocks) => blocks.map((b) => b.text).join('')).join('\n');

  let maxTokens = req.maxTokens ?? defaultMaxTokens;
  const budget = thinkingBudget(req);
  if (budget !== null) {
    if (req.maxTokens === null) maxTokens += budget;
    else if (budget >= maxTokens) unsupported(`reasoning needs max_tokens above its thinking budget of ${budget} tokens on this upstream`, 'max_tokens');
    body.thinking = { type: 'enabled', budget_tokens: budget };
  }
  body.max_tokens = maxTokens;

  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description !== undefined ? { description: t.function.description } : {}),
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
      ...(t.function.strict !== undefined ? { strict: t.function.strict } : {}),
      ...cached(t.cache_control),
    }));
  }
  const choice = toolChoice(req);
  if (choice) body.tool_choice = choice;

  const rf = req.responseFormat;
  if (rf?.type === 'json_object') unsupported('response_format json_object has no equivalent on this upstream; use json_schema', 'response_format');
  if (rf?.type === 'json_schema') {
    if (!rf.json_schema.schema) unsupported('response_format json_schema needs a schema on this upstream', 'response_format');
    body.output_config = { format: { type: 'json_schema', schema: rf.json_schema.schema } };
  }
  if (req.logprobs || req.topLogprobs !== undefined) unsupported('logprobs are not available from this upstream', 'logprobs');

  const p = req.params;
  for (const [name, why] of Object.entries(REFUSED_PARAMS)) if (p[name] !== undefined) unsupported(`${name} ${why}`, name);
  if (typeof p.temperature === 'number') body.temperature = p.temperature;
  if (typeof p.top_p === 'number') body.top_p = p.top_p;
  if (typeof p.top_k === 'number') body.top_k = p.top_k;
  if (p.stop !== undefined) body.stop_sequences = Array.isArray(p.stop) ? p.stop : [p.stop];
  if (p.service_tier !== undefined) {
    if (p.service_tier !== 'auto' && p.service_tier !== 'standard_only') unsupported('service_tier must be auto or standard_only on this upstream', 'service_tier');
    body.service_tier = p.service_tier;
  }
  const meta = req.metadata ?? {};
  for (const key of Object.keys(meta)) if (key !== 'user_id') unsupported(`metadata.${key} is not available on this upstream (only user_id)`, 'metadata');
  const userId = meta.user_id ?? (typeof p.user === 'string' ? p.user : typeof p.safety_identifier === 'string' ? p.safety_identifier : undefined);
  if (userId !== undefined) body.metadata = { user_id: userId };
  return body;
}

/** Sampling options of the OpenAI side that change the output and have no Messages API field. */
const REFUSED_PARAMS: Record<string, string> = {
  seed: 'is not available on this upstream',
  presence_penalty: 'is not available on this upstream',
  frequency_penalty: 'is not available on this upstream',
  logit_bias: 'is not available on this upstream',
  min_p: 'is not available on this upstream',
  repetition_penalty: 'is not available on this upstream',
  verbosity: 'is not available on this upstream',
};

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

/** Anthropic wants user and assistant turns to alternate: consecutive ones of a role are merged. */
function push(turns: Turn[], role: Turn['role'], blocks: Block[]): void {
  const last = turns[turns.length - 1];
  if (last?.role === role) last.content.push(...blocks);
  else turns.push({ role, content: blocks });
}

function unsupported(message: string, param: string): never {
  throw new UpstreamError('unsupported', `${param}: ${message}`, { publicMessage: message });
}

function parts(content: string | ContentPart[]): ContentPart[] {
  return typeof content === 'string' ? (content ? [{ type: 'text', text: content }] : []) : content;
}

/** A caching breakpoint as an optional field of a block (absent: no key at all). */
function cached(cc: CacheControl | undefined): Block {
  return cc === undefined ? {} : { cache_control: cc };
}

function systemBlocks(content: string | ContentPart[], where: string): Block[] {
  return parts(content).map((p) =>
    p.type === 'text' ? { type: 'text', text: p.text, ...cached(p.cache_control) } : unsupported(`${where}: only text is accepted in system messages on this upstream`, where),
  );
}

function userBlocks(content: string | ContentPart[], where: string): Block[] {
  return parts(content).map((p, i): Block => {
    if (p.type === 'text') return { type: 'text', text: p.text, ...cached(p.cache_control) };
    if (p.type === 'image_url') return { ...imageBlock(p.image_url.url), ...cached(p.cache_control) };
    return unsupported(`${where}.content[${i}]: audio input is not available on this upstream`, `${where}.content[${i}]`);
  });
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function imageBlock(url: string): Block {
  const m = DATA_URL.exec(url);
  if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function assistantBlocks(m: ChatMessage, where: string): Block[] {
  const out: Block[] = [];
  // Only a signed thinking block can go back to Anthropic; unsigned reasoning (another upstream's) is not sent.
  if (m.reasoning?.redacted !== undefined) out.push({ type: 'redacted_thinking', data: m.reasoning.redacted });
  else if (m.reasoning?.signature) out.push({ type: 'thinking', thinking: m.reasoning.text, signature: m.reasoning.signature });
  for (const p of parts(m.content)) {
    if (p.type !== 'text') unsupported(`${where}: only text is accepted in assistant messages on this upstream`, where);
    if (p.text) out.push({ type: 'text', text: p.text, ...cached(p.cache_control) });
  }
  m.tool_calls?.forEach((c, i) => {
    let input: unknown = {};
    if (c.function.arguments.trim() !== '') {
      try {
        input = JSON.parse(c.function.arguments);
      } catch {
        unsupported(`${where}.tool_calls[${i}].function.arguments must be JSON for this upstream`, `${where}.tool_calls[${i}]`);
      }
    }
    out.push({ type: 'tool_use', id: c.id, name: c.function.name, input, ...cached(c.cache_control) });
  });
  return out;
}

function toolResult(m: ChatMessage, where: string): Block {
  const content = typeof m.content === 'string' ? m.content : userBlocks(m.content, where);
  return { type: 'tool_result', tool_use_id: m.tool_call_id ?? '', content, ...cached(m.cache_control) };
}

const EFFORT_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 24_576, xhigh: 32_768 };

/** The thinking budget the request asks for; null: no thinking. Anthropic's minimum is 1024. */
function thinkingBudget(req: GenerationRequest): number | null {
  const r = req.reasoning;
  if (!r) return null;
  if (r.budgetTokens !== undefined) return Math.max(1024, r.budgetTokens);
  return r.effort ? (EFFORT_BUDGET[r.effort] ?? null) : null;
}

function toolChoice(req: GenerationRequest): Block | null {
  const c = req.toolChoice;
  const single = req.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  if (c === undefined) return req.parallelToolCalls === false && req.tools?.length ? { type: 'auto', ...single } : null;
  if (c === 'none') return { type: 'none' };
  if (c === 'auto') return { type: 'auto', ...single };
  if (c === 'required') return { type: 'any', ...single };
  return { type: 'tool', name: c.function.name, ...single };
}
