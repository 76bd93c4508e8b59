import { InvalidRequestError } from './errors.js';
import type { ChatMessage, ContentPart, GenerationRequest, RequestLimits } from './requests.js';

/**
 * POST /v1/responses (OpenAI Responses / Open Responses) → the normalised GenerationRequest.
 * Every field is either carried into the request or refused with a 400 naming it: a gateway that
 * drops `tools` or a `function_call_output` silently breaks every agent behind it.
 */

/** What the Response object echoes that the normalised request has no field for. */
export interface ResponsesOptions {
  /** `instructions` as sent (also the first, system, message); null when absent. */
  instructions: string | null;
  /** Response this one continues; null when none. */
  previousResponseId: string | null;
  /** false: GET /v1/responses/:id answers 404 for it (it is still streamed and resumable by its events URL). */
  store: boolean;
  background: boolean;
  truncation: 'auto' | 'disabled';
  /** Output the caller asked to include (`reasoning.encrypted_content`, `message.output_text.logprobs`). */
  include: string[];
}

/**
 * The earlier turn a previous_response_id names, resolved by the edge (it needs the store):
 * the conversation that produced it, followed by its output as assistant/tool messages.
 */
export interface PreviousTurn {
  /** Without the previous request's own `instructions`: those are not carried over (as OpenAI does). */
  messages: ChatMessage[];
}

const TOP_LEVEL = new Set([
  'model',
  'input',
  'instructions',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'text',
  'reasoning',
  'max_output_tokens',
  'metadata',
  'stream',
  'stream_options',
  'background',
  'store',
  'previous_response_id',
  'temperature',
  'top_p',
  'presence_penalty',
  'frequency_penalty',
  'top_logprobs',
  'include',
  'truncation',
  'user',
  'safety_identifier',
  'prompt_cache_key',
  'service_tier',
  'on_disconnect',
]);

const INCLUDABLE = new Set(['reasoning.encrypted_content', 'message.output_text.logprobs']);
const EFFORTS = new Set(['minimal', 'low', 'medium', 'high']);
const SUMMARIES = new Set(['auto', 'concise', 'detailed']);
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string, param: string | null, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, code, { param });
}

function unsupported(message: string, param: string): never {
  throw new InvalidRequestError(message, 'unsupported_parameter', { param });
}

/** Refuses any key of `obj` not in `allowed`: nothing a caller sends disappears without an error. */
function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], param: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) unsupported(`${param}.${k} is not supported here`, `${param}.${k}`);
  }
}

function optString(body: Record<string, unknown>, key: string, param = key): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(`${param} must be a string`, param);
  return v;
}

function optBool(body: Record<string, unknown>, key: string, param = key): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`${param} must be a boolean`, param);
  return v;
}

function optNumber(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a number`, key);
  return v;
}

/** Content parts of a message item: input_text / output_text / refusal → text, input_image → image_url. */
function contentParts(content: unknown, role: ChatMessage['role'], param: string): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) bad(`${param} must be a string or an array of content parts`, param);
  const parts = content.map((p, i): ContentPart => {
    const at = `${param}[${i}]`;
    if (!isObject(p)) bad(`${at} must be an object`, at);
    if (p.type === 'input_text' || (role === 'assistant' && p.type === 'output_text')) {
      onlyKeys(p, ['type', 'text', 'annotations', 'logprobs'], at);
      if (typeof p.text !== 'string') bad(`${at}.text must be a string`, `${at}.text`);
      return { type: 'text', text: p.text };
    }
    if (role === 'assistant' && p.type === 'refusal') {
      if (typeof p.refusal !== 'string') bad(`${at}.refusal must be a string`, `${at}.refusal`);
      return { type: 'text', text: p.refusal };
    }
    if (p.type === 'input_image' && role !== 'assistant') {
      onlyKeys(p, ['type', 'image_url', 'detail', 'file_id'], at);
      if (p.file_id !== undefined && p.file_id !== null) unsupported(`${at}.file_id: files are not stored here; send image_url (a URL or a data URL)`, `${at}.file_id`);
      if (typeof p.image_url !== 'string' || p.image_url.length === 0) bad(`${at}.image_url must be a URL or a data URL`, `${at}.image_url`);
      const detail = p.detail;
      if (detail !== undefined && detail !== null && detail !== 'auto' && detail !== 'low' && detail !== 'high') bad(`${at}.detail must be auto, low or high`, `${at}.detail`);
      return { type: 'image_url', image_url: { url: p.image_url, ...(typeof detail === 'string' ? { detail } : {}) } };
    }
    return unsupported(`${at}.type ${JSON.stringify(p.type)} is not supported in a ${role} message`, `${at}.type`);
  });
  // A text-only content array is a plain string upstream: the simplest form every upstream takes.
  return parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts;
}

function functionOutput(output: unknown, param: string): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output) && output.every((p) => isObject(p) && p.type === 'input_text' && typeof p.text === 'string')) {
    return output.map((p) => (p as { text: string }).text).join('');
  }
  return unsupported(`${param} must be a string or an array of input_text parts`, param);
}

/** The input items, in order, as chat messages (function calls join the assistant turn they belong to). */
function inputMessages(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) bad('input must be a string or an array of input items', 'input');
  const out: ChatMessage[] = [];
  const lastAssistant = (): ChatMessage | undefined => {
    const m = out[out.length - 1];
    return m && m.role === 'assistant' ? m : undefined;
  };
  input.forEach((item, i) => {
    const at = `input[${i}]`;
    if (!isObject(item)) bad(`${at} must be an object`, at);
    const type = item.type ?? 'message';
    if (type === 'message') {
      onlyKeys(item, ['type', 'role', 'content', 'id', 'status', 'phase'], at);
      const role = item.role;
      if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') bad(`${at}.role must be user, system, developer or assistant`, `${at}.role`);
      const content = contentParts(item.content, role, `${at}.content`);
      const prev = lastAssistant();
      // An assistant message right after its own reasoning item is the same turn.
      if (role === 'assistant' && prev && prev.reasoning && prev.content === '' && !prev.tool_calls) prev.content = content;
      else out.push({ role, content });
      return;
    }
    if (type === 'function_call') {
      onlyKeys(item, ['type', 'id', 'call_id', 'name', 'arguments', 'status'], at);
      if (typeof item.call_id !== 'string' || item.call_id.length === 0) bad(`${at}.call_id must be a non-empty string`, `${at}.call_id`);
      if (typeof item.name !== 'string' || !NAME.test(item.name)) bad(`${at}.name must match ${NAME}`, `${at}.name`);
      if (typeof item.arguments !== 'string') bad(`${at}.arguments must be a string (JSON)`, `${at}.arguments`);
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      const prev = lastAssistant();
      if (prev) (prev.tool_calls ??= []).push(call);
      else out.push({ role: 'assistant', content: '', tool_calls: [call] });
      return;
    }
    if (type === 'function_call_output') {
      onlyKeys(item, ['type', 'id', 'call_id', 'output', 'status'], at);
      if (typeof item.call_id !== 'string' || item.call_id.length === 0) bad(`${at}.call_id must be a non-empty string`, `${at}.call_id`);
      out.push({ role: 'tool', content: functionOutput(item.output, `${at}.output`), tool_call_id: item.call_id });
      return;
    }
    if (type === 'reasoning') {
      onlyKeys(item, ['type', 'id', 'summary', 'content', 'encrypted_content', 'status'], at);
      const texts: string[] = [];
      for (const [key, kinds] of [
        ['summary', ['summary_text']],
        ['content', ['reasoning_text']],
      ] as const) {
        const list = item[key];
        if (list === undefined || list === null) continue;
        if (!Array.isArray(list)) bad(`${at}.${key} must be an array`, `${at}.${key}`);
        list.forEach((p, j) => {
          if (!isObject(p) || !(kinds as readonly unknown[]).includes(p.type) || typeof p.text !== 'string')
            bad(`${at}.${key}[${j}] must be a ${kinds[0]} part`, `${at}.${key}[${j}]`);
          texts.push(p.text);
        });
      }
      const enc = item.encrypted_content;
      if (enc !== undefined && enc !== null && typeof enc !== 'string') bad(`${at}.encrypted_content must be a string`, `${at}.encrypted_content`);
      // Reasoning opens the assistant turn it precedes; its text and signature travel with it.
      out.push({ role: 'assistant', content: '', reasoning: { text: texts.join('\n'), ...(typeof enc === 'string' ? { signature: enc } : {}) } });
      return;
    }
    if (type === 'item_reference') unsupported(`${at}: item references are not resolved here; send the items themselves, or previous_response_id`, `${at}.type`);
    unsupported(`${at}.type ${JSON.stringify(type)} is not supported (message, function_call, function_call_output and reasoning are)`, `${at}.type`);
  });
  return out;
}

function parseTools(raw: unknown): GenerationRequest['tools'] {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) bad('tools must be an array', 'tools');
  return raw.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) bad(`${at} must be an object`, at);
    if (t.type !== 'function') unsupported(`${at}.type ${JSON.stringify(t.type)}: only function tools are supported (hosted tools run at OpenAI, not here)`, `${at}.type`);
    onlyKeys(t, ['type', 'name', 'description', 'parameters', 'strict'], at);
    if (typeof t.name !== 'string' || !NAME.test(t.name)) bad(`${at}.name must match ${NAME}`, `${at}.name`);
    if (t.description !== undefined && t.description !== null && typeof t.description !== 'string') bad(`${at}.description must be a string`, `${at}.description`);
    if (t.parameters !== undefined && t.parameters !== null && !isObject(t.parameters)) bad(`${at}.parameters must be a JSON schema object`, `${at}.parameters`);
    if (t.strict !== undefined && t.strict !== null && typeof t.strict !== 'boolean') bad(`${at}.strict must be a boolean`, `${at}.strict`);
    return {
      type: 'function' as const,
      function: {
        name: t.name,
        ...(typeof t.description === 'string' ? { description: t.description } : {}),
        ...(isObject(t.parameters) ? { parameters: t.parameters } : {}),
        ...(typeof t.strict === 'boolean' ? { strict: t.strict } : {}),
      },
    };
  });
}

function parseToolChoice(raw: unknown): GenerationRequest['toolChoice'] {
  if (raw === undefined || raw === null) return undefined;
  if (raw === 'auto' || raw === 'none' || raw === 'required') return raw;
  if (isObject(raw) && raw.type === 'function') {
    onlyKeys(raw, ['type', 'name'], 'tool_choice');
    if (typeof raw.name !== 'string' || !NAME.test(raw.name)) bad('tool_choice.name must name a function', 'tool_choice.name');
    return { type: 'function', function: { name: raw.name } };
  }
  return unsupported('tool_choice must be "auto", "none", "required" or {"type":"function","name":…}', 'tool_choice');
}

function parseText(raw: unknown): GenerationRequest['responseFormat'] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) bad('text must be an object', 'text');
  onlyKeys(raw, ['format'], 'text');
  const f = raw.format;
  if (f === undefined || f === null) return undefined;
  if (!isObject(f)) bad('text.format must be an object', 'text.format');
  if (f.type === 'text') return { type: 'text' };
  if (f.type === 'json_object') {
    onlyKeys(f, ['type'], 'text.format');
    return { type: 'json_object' };
  }
  if (f.type === 'json_schema') {
    onlyKeys(f, ['type', 'name', 'schema', 'strict', 'description'], 'text.format');
    if (typeof f.name !== 'string' || !NAME.test(f.name)) bad(`text.format.name must match ${NAME}`, 'text.format.name');
    if (f.schema !== undefined && !isObject(f.schema)) bad('text.format.schema must be a JSON schema object', 'text.format.schema');
    if (f.strict !== undefined && f.strict !== null && typeof f.strict !== 'boolean') bad('text.format.strict must be a boolean', 'text.format.strict');
    if (f.description !== undefined && typeof f.description !== 'string') bad('text.format.description must be a string', 'text.format.description');
    return {
      type: 'json_schema',
      json_schema: {
        name: f.name,
        ...(typeof f.description === 'string' ? { description: f.description } : {}),
        ...(isObject(f.schema) ? { schema: f.schema } : {}),
        ...(typeof f.strict === 'boolean' ? { strict: f.strict } : {}),
      },
    };
  }
  return unsupported('text.format.type must be text, json_object or json_schema', 'text.format.type');
}

function parseReasoning(raw: unknown): GenerationRequest['reasoning'] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) bad('reasoning must be an object', 'reasoning');
  onlyKeys(raw, ['effort', 'summary', 'generate_summary'], 'reasoning');
  const out: NonNullable<GenerationRequest['reasoning']> = {};
  if (raw.effort !== undefined && raw.effort !== null) {
    if (typeof raw.effort !== 'string' || !EFFORTS.has(raw.effort)) bad(`reasoning.effort must be one of ${[...EFFORTS].join(', ')}`, 'reasoning.effort');
    out.effort = raw.effort as NonNullable<typeof out.effort>;
  }
  const summary = raw.summary ?? raw.generate_summary;
  if (summary !== undefined && summary !== null) {
    if (typeof summary !== 'string' || !SUMMARIES.has(summary)) bad(`reasoning.summary must be one of ${[...SUMMARIES].join(', ')}`, 'reasoning.summary');
    out.summary = summary;
  }
  return out;
}

function parseMetadata(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) bad('metadata must be an object of strings', 'metadata');
  const entries = Object.entries(raw);
  if (entries.length > 16) bad('metadata may have at most 16 keys', 'metadata');
  for (const [k, v] of entries) {
    if (k.length > 64) bad('metadata keys are at most 64 characters', 'metadata');
    if (typeof v !== 'string' || v.length > 512) bad(`metadata.${k} must be a string of at most 512 characters`, `metadata.${k}`);
  }
  return raw as Record<string, string>;
}

function parseInclude(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) bad('include must be an array', 'include');
  return raw.map((v, i) => {
    if (typeof v !== 'string' || !INCLUDABLE.has(v)) unsupported(`include[${i}] must be one of ${[...INCLUDABLE].join(', ')}`, `include[${i}]`);
    return v;
  });
}

/**
 * Parse a Responses create body. `previous`: the resolved previous_response_id turn, when the
 * body names one (the edge resolves it before calling this, since that needs the store).
 */
export function parseResponsesRequest(body: unknown, limits: RequestLimits, previous: PreviousTurn | null = null): GenerationRequest {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  for (const k of Object.keys(body)) {
    if (!TOP_LEVEL.has(k)) unsupported(`${k} is not supported by this server`, k);
  }
  const model = body.model;
  if (model === undefined || model === null) bad('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) bad('model must be a non-empty string', 'model');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(model)) bad('model must not contain control characters', 'model');
  if (body.input === undefined || body.input === null) bad('you must provide an input parameter', 'input', 'missing_required_parameter');

  const previousResponseId = optString(body, 'previous_response_id') ?? null;
  if (previousResponseId !== null && !previous) bad('previous_response_id was not resolved', 'previous_response_id');
  const instructions = optString(body, 'instructions') ?? null;
  const messages: ChatMessage[] = [];
  if (instructions !== null) messages.push({ role: 'system', content: instructions });
  if (previous) messages.push(...previous.messages);
  messages.push(...inputMessages(body.input));
  if (messages.length === 0) bad('input must not be empty', 'input');
  const chars = messages.reduce((n, m) => n + contentChars(m), 0);
  if (chars > limits.maxPromptChars) bad(`the prompt is too long: ${chars} characters, at most ${limits.maxPromptChars}`, 'input', 'context_length_exceeded');

  let maxTokens: number | null = null;
  const rawMax = body.max_output_tokens;
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1) bad('max_output_tokens must be a positive integer', 'max_output_tokens');
    if (rawMax > limits.maxTokensCap) bad(`max_output_tokens must be at most ${limits.maxTokensCap}`, 'max_output_tokens', 'max_tokens_exceeded');
    maxTokens = rawMax;
  }
  const stream = optBool(body, 'stream') ?? false;
  const background = optBool(body, 'background') ?? false;
  const store = optBool(body, 'store') ?? true;
  if (background && !store) bad('background responses must be stored: drop store:false or background:true', 'store');
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) bad('stream_options must be an object', 'stream_options');
    // Obfuscation pads events against length side channels on a shared network path; tokencast
    // never adds it, which is what include_obfuscation:false asks for and harmless otherwise.
    onlyKeys(so, ['include_obfuscation'], 'stream_options');
    optBool(so, 'include_obfuscation', 'stream_options.include_obfuscation');
  }
  const truncation = body.truncation ?? 'disabled';
  if (truncation !== 'auto' && truncation !== 'disabled') bad('truncation must be "auto" or "disabled"', 'truncation');
  const st = body.service_tier;
  if (st !== undefined && st !== null && st !== 'auto' && st !== 'default') unsupported('service_tier must be "auto" or "default" here', 'service_tier');
  const od = body.on_disconnect;
  if (od !== undefined && od !== null && od !== 'continue' && od !== 'cancel') bad('on_disconnect must be "continue" or "cancel"', 'on_disconnect');

  const params: Record<string, unknown> = {};
  for (const k of ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty'] as const) {
    const v = optNumber(body, k);
    if (v !== undefined) params[k] = v;
  }
  for (const k of ['user', 'safety_identifier', 'prompt_cache_key'] as const) {
    const v = optString(body, k);
    if (v !== undefined) params[k] = v;
  }
  const include = parseInclude(body.include);
  const topLogprobs = body.top_logprobs;
  if (topLogprobs !== undefined && topLogprobs !== null && (typeof topLogprobs !== 'number' || !Number.isInteger(topLogprobs) || topLogprobs < 0 || topLogprobs > 20))
    bad('top_logprobs must be an integer from 0 to 20', 'top_logprobs');
  const wantsLogprobs = include.includes('message.output_text.logprobs') || (typeof topLogprobs === 'number' && topLogprobs > 0);

  const req: GenerationRequest = {
    kind: 'chat',
    api: 'responses',
    model,
    messages,
    prompt: '',
    maxTokens,
    stream,
    // The Response object always carries usage.
    includeUsage: true,
    params,
    responses: { instructions, previousResponseId, store, background, truncation, include },
  };
  const tools = parseTools(body.tools);
  if (tools) req.tools = tools;
  const toolChoice = parseToolChoice(body.tool_choice);
  if (toolChoice) req.toolChoice = toolChoice;
  const parallel = optBool(body, 'parallel_tool_calls');
  if (parallel !== undefined) req.parallelToolCalls = parallel;
  const format = parseText(body.text);
  if (format) req.responseFormat = format;
  const reasoning = parseReasoning(body.reasoning);
  if (reasoning) req.reasoning = reasoning;
  const metadata = parseMetadata(body.metadata);
  if (metadata) req.metadata = metadata;
  if (wantsLogprobs) {
    req.logprobs = true;
    if (typeof topLogprobs === 'number' && topLogprobs > 0) req.topLogprobs = topLogprobs;
  }
  if (od === 'cancel' || od === 'continue') req.onDisconnect = od;
  // A background response runs on with nobody watching, whatever the key's policy says.
  else if (background) req.onDisconnect = 'continue';
  return req;
}

function contentChars(m: ChatMessage): number {
  const c = m.content;
  const text = typeof c === 'string' ? c.length : c.reduce((n, p) => n + (p.type === 'text' ? p.text.length : 0), 0);
  const calls = (m.tool_calls ?? []).reduce((n, t) => n + t.function.arguments.length, 0);
  return text + calls + (m.reasoning?.text.length ?? 0);
}

/** `resp_<26 chars>` ⇄ `gen_<26 chars>`: a Response id is its generation's id under OpenAI's prefix. */
export function responseIdOf(genId: string): string {
  return `resp_${genId.slice(4)}`;
}

/** The generation id behind a Response id (or a generation id given as is); null when it is neither. */
export function generationIdOfResponse(id: unknown): string | null {
  if (typeof id !== 'string') return null;
  if (/^resp_[a-z2-7]{26}$/.test(id)) return `gen_${id.slice(5)}`;
  if (/^gen_[a-z2-7]{26}$/.test(id)) return id;
  return null;
}
