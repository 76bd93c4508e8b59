import type { ChatMessage, ContentPart, GenerationRequest } from '@tokencast/protocol';
import { UpstreamError } from './errors.js';

/**
 * The normalised (OpenAI chat shaped) request as an OpenAI Responses API body, stateless
 * (`store: false` unless the caller asked otherwise). The translation:
 *
 *   system / developer / user messages → message items (text → input_text, image_url → input_image)
 *   assistant message            → an assistant message item (output_text) and a function_call
 *                                  item per tool call; earlier reasoning is not sent (its signature
 *                                  may come from another upstream)
 *   tool messages                → function_call_output items
 *   tools                        → {type: function, name, description, parameters, strict}
 *   tool_choice, parallel_tool_calls, metadata, temperature, top_p, user, store, service_tier,
 *   prompt_cache_key, prompt_cache_retention, safety_identifier → as given
 *   response_format              → text.format (json_schema flattened: {type, name, schema, strict})
 *   reasoning                    → reasoning {effort, summary}; a budget without an effort becomes
 *                                  low ≤ 2048 < medium ≤ 8192 < high
 *   logprobs / top_logprobs      → include message.output_text.logprobs, top_logprobs
 *   max_tokens                   → max_output_tokens
 *   audio parts, stop, seed, penalties, logit_bias, top_k, min_p, a legacy completion → refused
 *   cache_control (Anthropic breakpoints of a /v1/messages request) → not sent: a billing hint with
 *                                  no Responses field (OpenAI caches prefixes by itself, keyed by
 *                                  prompt_cache_key); it changes no output (docs/PROTOCOL.md)
 */
export function responsesBody(req: GenerationRequest): Record<string, unknown> {
  if (req.kind === 'completion') unsupported('legacy completions are not available on this upstream', 'prompt');
  const body: Record<string, unknown> = { model: req.model, stream: true, store: false, input: req.messages.flatMap((m, i) => items(m, `messages[${i}]`)) };
  if (req.maxTokens !== null) body.max_output_tokens = req.maxTokens;
  if (req.tools?.length) {
    body.tools = req.tools.map((t) => ({
      type: 'function',
      name: t.function.name,
      ...(t.function.description !== undefined ? { description: t.function.description } : {}),
      parameters: t.function.parameters ?? { type: 'object', properties: {} },
      ...(t.function.strict !== undefined ? { strict: t.function.strict } : {}),
    }));
  }
  const c = req.toolChoice;
  if (c !== undefined) body.tool_choice = typeof c === 'string' ? c : { type: 'function', name: c.function.name };
  if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  const rf = req.responseFormat;
  if (rf && rf.type !== 'text') {
    body.text = {
      format:
        rf.type === 'json_object'
          ? { type: 'json_object' }
          : {
              type: 'json_schema',
              name: rf.json_schema.name,
              schema: rf.json_schema.schema ?? {},
              ...(rf.json_schema.strict !== undefined ? { strict: rf.json_schema.strict } : {}),
            },
    };
  }
  const r = req.reasoning;
  if (r) {
    const effort = r.effort ?? (r.budgetTokens === undefined ? undefined : r.budgetTokens <= 2048 ? 'low' : r.budgetTokens <= 8192 ? 'medium' : 'high');
    body.reasoning = { ...(effort ? { effort } : {}), ...(r.summary ? { summary: r.summary } : {}) };
  }
  if (req.logprobs) body.include = ['message.output_text.logprobs'];
  if (req.topLogprobs !== undefined) body.top_logprobs = req.topLogprobs;
  if (req.metadata && Object.keys(req.metadata).length > 0) body.metadata = req.metadata;
  for (const [name, value] of Object.entries(req.params)) {
    if (PASSED.has(name)) body[name] = value;
    else unsupported(`${name} is not available on this upstream`, name);
  }
  return body;
}

/** Request options with the same name and meaning in the Responses API. */
const PASSED = new Set(['temperature', 'top_p', 'user', 'store', 'service_tier', 'prompt_cache_key', 'prompt_cache_retention', 'safety_identifier']);

function unsupported(message: string, param: string): never {
  throw new UpstreamError('unsupported', `${param}: ${message}`, { publicMessage: message });
}

function parts(content: string | ContentPart[]): ContentPart[] {
  return typeof content === 'string' ? (content ? [{ type: 'text', text: content }] : []) : content;
}

function items(m: ChatMessage, where: string): Record<string, unknown>[] {
  if (m.role === 'tool') {
    const output = parts(m.content)
      .map((p) => (p.type === 'text' ? p.text : unsupported(`${where}: only text tool results are accepted on this upstream`, where)))
      .join('');
    return [{ type: 'function_call_output', call_id: m.tool_call_id ?? '', output }];
  }
  if (m.role === 'assistant') {
    const out: Record<string, unknown>[] = [];
    const text = parts(m.content)
      .map((p) => (p.type === 'text' ? p.text : unsupported(`${where}: only text is accepted in assistant messages on this upstream`, where)))
      .join('');
    if (text) out.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] });
    for (const c of m.tool_calls ?? []) out.push({ type: 'function_call', call_id: c.id, name: c.function.name, arguments: c.function.arguments });
    return out;
  }
  const content = parts(m.content).map((p, i) => {
    if (p.type === 'text') return { type: 'input_text', text: p.text };
    if (p.type === 'image_url') return { type: 'input_image', image_url: p.image_url.url, detail: p.image_url.detail ?? 'auto' };
    return unsupported(`${where}.content[${i}]: audio input is not available on this upstream`, `${where}.content[${i}]`);
  });
  return [{ type: 'message', role: m.role, content }];
}
