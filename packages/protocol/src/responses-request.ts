import type { ChatMessage, ContentPart, GenerationRequest, ReasoningEffort, RequestLimits } from './requests.js';
import { describedSchema, imageUrl, parseMetadata, parseToolArray } from './tools.js';
import { bad, isObject, onlyKeys, optBoolean, optString, RequestSize, toolName } from './validate.js';

/**
 * POST /v1/responses (OpenAI Responses / Open Responses) → the normalised GenerationRequest.
 * Every field is either carried into the request or refused with a 400 naming it: a gateway that
 * drops `tools` or a `function_call_output` silently breaks every agent behind it. Sizes count as
 * for every other API (RequestSize: MAX_PROMPT_CHARS, and the media cap for data-URL images).
 */

/**
 * The earlier turn a previous_response_id names, resolved by the edge (it needs the store):
 * the conversation that produced it, followed by its output as an assistant turn.
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

/** Responses fields tokencast knows but cannot carry, with the reason given in the 400. */
const UNSUPPORTED: Record<string, string> = {
  conversation: 'conversations are not stored here; send the items, or previous_response_id',
  prompt: 'prompt templates are not stored here; send instructions and input',
  max_tool_calls: 'no upstream can be held to a tool-call budget',
  context_management: 'the context is not compacted here',
  prompt_cache_retention: 'not forwarded by the Responses route',
};

const INCLUDABLE = new Set(['reasoning.encrypted_content', 'message.output_text.logprobs']);
const EFFORTS = new Set<ReasoningEffort>(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
const SUMMARIES = new Set(['auto', 'concise', 'detailed']);
const keys = (...k: string[]) => new Set(k);

/** Content parts of a message item: input_text / output_text / refusal → text, input_image → image_url. */
function contentParts(content: unknown, role: ChatMessage['role'], param: string, size: RequestSize, limits: RequestLimits): string | ContentPart[] {
  if (typeof content === 'string') {
    size.add(content);
    return content;
  }
  if (!Array.isArray(content)) bad(`${param} must be a string or an array of content parts`, param);
  const parts = content.map((p, i): ContentPart => {
    const at = `${param}[${i}]`;
    if (!isObject(p)) bad(`${at} must be an object`, at);
    if (p.type === 'input_text' || (role === 'assistant' && p.type === 'output_text')) {
      // Annotations and logprobs of an earlier answer are what it said, not what to say: not sent on.
      onlyKeys(p, keys('type', 'text', 'annotations', 'logprobs'), at);
      if (typeof p.text !== 'string') bad(`${at}.text must be a string`, `${at}.text`);
      size.add(p.text);
      return { type: 'text', text: p.text };
    }
    if (role === 'assistant' && p.type === 'refusal') {
      onlyKeys(p, keys('type', 'refusal'), at);
      if (typeof p.refusal !== 'string') bad(`${at}.refusal must be a string`, `${at}.refusal`);
      size.add(p.refusal);
      return { type: 'text', text: p.refusal };
    }
    if (p.type === 'input_image' && role === 'user') {
      onlyKeys(p, keys('type', 'image_url', 'detail'), at, { file_id: 'files are not stored here; send image_url (a URL or a data URL)' });
      const url = imageUrl(p.image_url, `${at}.image_url`, size, limits);
      const detail = p.detail;
      if (detail !== undefined && detail !== null && detail !== 'auto' && detail !== 'low' && detail !== 'high') bad(`${at}.detail must be auto, low or high`, `${at}.detail`);
      return { type: 'image_url', image_url: detail ? { url, detail } : { url } };
    }
    return bad(`${at}.type ${JSON.stringify(p.type)} is not supported in a ${role} message`, `${at}.type`, 'unsupported_value');
  });
  // A text-only content array is a plain string upstream: the simplest form every upstream takes.
  return parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts;
}

function functionOutput(output: unknown, param: string, size: RequestSize): string {
  if (typeof output === 'string') {
    size.add(output);
    return output;
  }
  if (Array.isArray(output) && output.every((p) => isObject(p) && p.type === 'input_text' && typeof p.text === 'string')) {
    const text = output.map((p) => (p as { text: string }).text).join('');
    size.add(text);
    return text;
  }
  return bad(`${param} must be a string or an array of input_text parts`, param, 'unsupported_value');
}

function callId(v: unknown, param: string, size: RequestSize): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) bad(`${param} must be a string of 1 to 64 characters`, param);
  size.add(v);
  return v;
}

/** The input items, in order, as chat messages (function calls join the assistant turn they belong to). */
function inputMessages(input: unknown, size: RequestSize, limits: RequestLimits): ChatMessage[] {
  if (typeof input === 'string') {
    size.add(input);
    return [{ role: 'user', content: input }];
  }
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
      // id, status and phase describe an item the API returned earlier; they change nothing upstream.
      onlyKeys(item, keys('type', 'role', 'content', 'id', 'status', 'phase'), at);
      const role = item.role;
      if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') bad(`${at}.role must be user, system, developer or assistant`, `${at}.role`);
      const content = contentParts(item.content, role, `${at}.content`, size, limits);
      const prev = lastAssistant();
      // An assistant message right after its own reasoning item is the same turn.
      if (role === 'assistant' && prev?.reasoning && prev.content === '' && !prev.tool_calls) prev.content = content;
      else out.push({ role, content });
      return;
    }
    if (type === 'function_call') {
      onlyKeys(item, keys('type', 'id', 'call_id', 'name', 'arguments', 'status'), at);
      const id = callId(item.call_id, `${at}.call_id`, size);
      const name = toolName(item.name, `${at}.name`);
      if (typeof item.arguments !== 'string') bad(`${at}.arguments must be a string (JSON)`, `${at}.arguments`);
      size.add(name);
      size.add(item.arguments);
      const call = { id, type: 'function' as const, function: { name, arguments: item.arguments } };
      const prev = lastAssistant();
      if (prev) (prev.tool_calls ??= []).push(call);
      else out.push({ role: 'assistant', content: '', tool_calls: [call] });
      return;
    }
    if (type === 'function_call_output') {
      onlyKeys(item, keys('type', 'id', 'call_id', 'output', 'status'), at);
      const id = callId(item.call_id, `${at}.call_id`, size);
      out.push({ role: 'tool', content: functionOutput(item.output, `${at}.output`, size), tool_call_id: id });
      return;
    }
    if (type === 'reasoning') {
      onlyKeys(item, keys('type', 'id', 'summary', 'content', 'encrypted_content', 'status'), at);
      const texts: string[] = [];
      for (const [key, kind] of [
        ['summary', 'summary_text'],
        ['content', 'reasoning_text'],
      ] as const) {
        const list = item[key];
        if (list === undefined || list === null) continue;
        if (!Array.isArray(list)) bad(`${at}.${key} must be an array`, `${at}.${key}`);
        list.forEach((p, j) => {
          if (!isObject(p) || p.type !== kind || typeof p.text !== 'string') bad(`${at}.${key}[${j}] must be a ${kind} part`, `${at}.${key}[${j}]`);
          texts.push(p.text);
        });
      }
      const enc = optString(item.encrypted_content, `${at}.encrypted_content`);
      const text = texts.join('\n');
      size.add(text);
      size.add(enc);
      // Reasoning opens the assistant turn it precedes; its text and signature travel with it.
      out.push({ role: 'assistant', content: '', reasoning: { text, ...(enc !== undefined ? { signature: enc } : {}) } });
      return;
    }
    // The edge resolves references to its own items before parsing; what is left is unknown here.
    if (type === 'item_reference') bad(`${at}: item references are resolved only for items this server returned`, `${at}.type`, 'unsupported_value');
    bad(`${at}.type ${JSON.stringify(type)} is not supported (message, function_call, function_call_output and reasoning are)`, `${at}.type`, 'unsupported_value');
  });
  return out;
}

/** Responses tools are flat ({type, name, …}); only function tools can be carried. */
function parseTools(raw: unknown, size: RequestSize): GenerationRequest['tools'] {
  return parseToolArray(raw, (t, at, unique) => {
    if (t.type !== 'function')
      bad(`${at}.type ${JSON.stringify(t.type)}: only function tools are supported (hosted tools run at OpenAI, not here)`, `${at}.type`, 'unsupported_value');
    onlyKeys(t, keys('type', 'name', 'description', 'parameters', 'strict'), at);
    const name = unique(toolName(t.name, `${at}.name`), `${at}.name`);
    size.add(name);
    return { type: 'function', function: { name, ...describedSchema(t, at, 'parameters', size) } };
  });
}

function parseToolChoice(raw: unknown, tools: GenerationRequest['tools']): GenerationRequest['toolChoice'] {
  if (raw === undefined || raw === null) return undefined;
  if (raw === 'auto' || raw === 'none' || raw === 'required') {
    if (raw === 'required' && !tools?.length) bad('tool_choice "required" needs tools', 'tool_choice');
    return raw;
  }
  if (isObject(raw) && raw.type === 'function') {
    onlyKeys(raw, keys('type', 'name'), 'tool_choice');
    const name = toolName(raw.name, 'tool_choice.name');
    if (!tools?.some((t) => t.function.name === name)) bad(`tool_choice names ${name}, which is not one of tools`, 'tool_choice.name');
    return { type: 'function', function: { name } };
  }
  return bad('tool_choice must be "auto", "none", "required" or {"type":"function","name":…}', 'tool_choice', 'unsupported_value');
}

function parseText(raw: unknown, size: RequestSize): GenerationRequest['responseFormat'] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) bad('text must be an object', 'text');
  onlyKeys(raw, keys('format'), 'text', { verbosity: 'it is not forwarded to chat upstreams' });
  const f = raw.format;
  if (f === undefined || f === null) return undefined;
  if (!isObject(f)) bad('text.format must be an object', 'text.format');
  if (f.type === 'text' || f.type === 'json_object') {
    onlyKeys(f, keys('type'), 'text.format');
    return { type: f.type };
  }
  if (f.type !== 'json_schema') bad('text.format.type must be text, json_object or json_schema', 'text.format.type');
  onlyKeys(f, keys('type', 'name', 'schema', 'strict', 'description'), 'text.format');
  const name = toolName(f.name, 'text.format.name');
  size.add(name);
  const js: Extract<NonNullable<GenerationRequest['responseFormat']>, { type: 'json_schema' }>['json_schema'] = { name, ...describedSchema(f, 'text.format', 'schema', size) };
  return { type: 'json_schema', json_schema: js };
}

function parseReasoning(raw: unknown): GenerationRequest['reasoning'] {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) bad('reasoning must be an object', 'reasoning');
  onlyKeys(raw, keys('effort', 'summary', 'generate_summary'), 'reasoning');
  const out: NonNullable<GenerationRequest['reasoning']> = {};
  if (raw.effort !== undefined && raw.effort !== null) {
    if (typeof raw.effort !== 'string' || !EFFORTS.has(raw.effort as ReasoningEffort)) bad(`reasoning.effort must be one of ${[...EFFORTS].join(', ')}`, 'reasoning.effort');
    out.effort = raw.effort as ReasoningEffort;
  }
  const summary = raw.summary ?? raw.generate_summary;
  if (summary !== undefined && summary !== null) {
    if (typeof summary !== 'string' || !SUMMARIES.has(summary)) bad(`reasoning.summary must be one of ${[...SUMMARIES].join(', ')}`, 'reasoning.summary');
    out.summary = summary;
  }
  return out;
}

function parseInclude(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) bad('include must be an array', 'include');
  return raw.map((v, i) => {
    if (typeof v !== 'string' || !INCLUDABLE.has(v)) bad(`include[${i}] must be one of ${[...INCLUDABLE].join(', ')}`, `include[${i}]`, 'unsupported_value');
    return v;
  });
}

function optNumber(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${param} must be a number`, param);
  return v;
}

/**
 * Parse a Responses create body. `previous`: the resolved previous_response_id turn, when the
 * body names one (the edge resolves it before calling this, since that needs the store).
 */
export function parseResponsesRequest(body: unknown, limits: RequestLimits, previous: PreviousTurn | null = null): GenerationRequest {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  onlyKeys(body, TOP_LEVEL, null, UNSUPPORTED);
  const model = body.model;
  if (model === undefined || model === null) bad('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) bad('model must be a non-empty string', 'model');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(model)) bad('model must not contain control characters', 'model');
  if (body.input === undefined || body.input === null) bad('you must provide an input parameter', 'input', 'missing_required_parameter');

  const size = new RequestSize();
  const previousResponseId = optString(body.previous_response_id, 'previous_response_id') ?? null;
  if (previousResponseId !== null && !previous) bad('previous_response_id was not resolved', 'previous_response_id');
  const instructions = optString(body.instructions, 'instructions') ?? null;
  const messages: ChatMessage[] = [];
  if (instructions !== null) {
    size.add(instructions);
    messages.push({ role: 'system', content: instructions });
  }
  if (previous) {
    // The earlier turns count toward the prompt like the new input: they go upstream together.
    for (const m of previous.messages) size.add(JSON.stringify(m));
    messages.push(...previous.messages);
  }
  messages.push(...inputMessages(body.input, size, limits));
  if (messages.length === 0) bad('input must not be empty', 'input');

  let maxTokens: number | null = null;
  const rawMax = body.max_output_tokens;
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1) bad('max_output_tokens must be a positive integer', 'max_output_tokens');
    if (rawMax > limits.maxTokensCap) bad(`max_output_tokens must be at most ${limits.maxTokensCap}`, 'max_output_tokens', 'max_tokens_exceeded');
    maxTokens = rawMax;
  }
  const stream = optBoolean(body.stream, 'stream') ?? false;
  const background = optBoolean(body.background, 'background') ?? false;
  const store = optBoolean(body.store, 'store') ?? true;
  if (background && !store) bad('background responses must be stored: drop store:false or background:true', 'store');
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) bad('stream_options must be an object', 'stream_options');
    // Obfuscation pads events against length side channels; tokencast never adds it, which is
    // what include_obfuscation:false asks for and harmless otherwise.
    onlyKeys(so, keys('include_obfuscation'), 'stream_options');
    optBoolean(so.include_obfuscation, 'stream_options.include_obfuscation');
  }
  const truncation = body.truncation ?? 'disabled';
  if (truncation !== 'auto' && truncation !== 'disabled') bad('truncation must be "auto" or "disabled"', 'truncation');
  const st = body.service_tier;
  if (st !== undefined && st !== null && st !== 'auto' && st !== 'default') bad('service_tier must be "auto" or "default" here', 'service_tier', 'unsupported_value');
  const od = body.on_disconnect;
  if (od !== undefined && od !== null && od !== 'continue' && od !== 'cancel') bad('on_disconnect must be "continue" or "cancel"', 'on_disconnect');

  const params: Record<string, unknown> = {};
  for (const k of ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty'] as const) {
    const v = optNumber(body[k], k);
    if (v !== undefined) params[k] = v;
  }
  for (const k of ['user', 'safety_identifier', 'prompt_cache_key'] as const) {
    const v = optString(body[k], k, 512);
    if (v !== undefined) {
      params[k] = v;
      size.add(v);
    }
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
  const tools = parseTools(body.tools, size);
  if (tools) req.tools = tools;
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  if (toolChoice) req.toolChoice = toolChoice;
  const parallel = optBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  if (parallel !== undefined) req.parallelToolCalls = parallel;
  const format = parseText(body.text, size);
  if (format) req.responseFormat = format;
  const reasoning = parseReasoning(body.reasoning);
  if (reasoning) req.reasoning = reasoning;
  const metadata = parseMetadata(body.metadata, size);
  if (metadata) req.metadata = metadata;
  if (wantsLogprobs) {
    req.logprobs = true;
    if (typeof topLogprobs === 'number' && topLogprobs > 0) req.topLogprobs = topLogprobs;
  }
  if (size.chars > limits.maxPromptChars) bad(`the prompt is too long: ${size.chars} characters, at most ${limits.maxPromptChars}`, 'input', 'context_length_exceeded');
  if (od === 'cancel' || od === 'continue') req.onDisconnect = od;
  // A background response runs on with nobody watching, whatever the key's policy says.
  else if (background) req.onDisconnect = 'continue';
  return req;
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
