import type { CacheControl, ChatMessage, ContentPart, GenerationRequest, RequestLimits, ToolCallRef, ToolChoice, ToolDefinition } from './requests.js';
import { imageUrl, parseMetadata, parseToolArray } from './tools.js';
import { bad, boundedJson, isObject, jsonSchemaObject, onlyKeys, optBoolean, optString, RequestSize, toolName } from './validate.js';

/**
 * POST /v1/messages body → the normalised request (OpenAI chat shape). Tool uses become an
 * assistant's tool_calls, tool results become `tool` messages, image blocks image_url parts and
 * thinking blocks the assistant message's reasoning, so any upstream gets the whole conversation.
 * `cache_control` markers are kept where the caller put them (system and message blocks, tool_use,
 * tool_result, tools) and sent as given to Anthropic upstreams; a block that carries one stays a
 * part of its own instead of being joined into a string.
 */

const TOP_KEYS = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'tools',
  'tool_choice',
  'thinking',
  'metadata',
  'service_tier',
]);
const TOP_UNSUPPORTED: Record<string, string> = {
  container: 'code execution containers are not supported',
  mcp_servers: 'MCP servers are not supported',
  context_management: 'context management is not supported',
};

/** A block's cache_control, checked; undefined when absent. */
function cacheControl(block: Record<string, unknown>, param: string): CacheControl | undefined {
  const cc = block.cache_control;
  if (cc === undefined || cc === null) return undefined;
  const at = `${param}.cache_control`;
  if (!isObject(cc) || cc.type !== 'ephemeral') bad(`${at} must be {"type":"ephemeral"}`, at);
  onlyKeys(cc, new Set(['type', 'ttl']), at);
  if (cc.ttl === undefined || cc.ttl === null) return { type: 'ephemeral' };
  if (cc.ttl !== '5m' && cc.ttl !== '1h') bad(`${at}.ttl must be "5m" or "1h"`, `${at}.ttl`);
  return { type: 'ephemeral', ttl: cc.ttl };
}

/** `cc` as an optional field: spread into a part so that an absent marker adds no key. */
function cached(cc: CacheControl | undefined): { cache_control?: CacheControl } {
  return cc === undefined ? {} : { cache_control: cc };
}

function textBlock(b: Record<string, unknown>, param: string, size: RequestSize): ContentPart {
  onlyKeys(b, new Set(['type', 'text', 'cache_control', 'citations']), param);
  const cc = cacheControl(b, param);
  if (typeof b.text !== 'string') bad(`${param}.text must be a string`, `${param}.text`);
  if (Array.isArray(b.citations) && b.citations.length > 0) bad(`${param}.citations are not supported`, `${param}.citations`, 'unsupported_value');
  size.add(b.text);
  return { type: 'text', text: b.text, ...cached(cc) };
}

/**
 * Parts as the normal form keeps them: text-only parts joined into a string, unless one carries
 * a cache_control marker (a breakpoint sits after a given block, so the blocks stay apart).
 */
function joined(parts: ContentPart[]): string | ContentPart[] {
  if (parts.some((p) => p.type !== 'text' || p.cache_control !== undefined)) return parts;
  return parts.map((p) => (p as { text: string }).text).join('');
}

/** A content field: a string (counted toward the request's size), or an array; anything else is a 400 naming `blocks`. */
function stringOrArray(content: unknown, param: string, size: RequestSize, blocks: string): string | unknown[] {
  if (typeof content === 'string') {
    size.add(content);
    return content;
  }
  if (!Array.isArray(content)) return bad(`${param} must be a string or an array of ${blocks}`, param);
  return content;
}

/** Calls `each` with every block of a turn's content and its parameter path; a block that is not an object is a 400. */
function eachBlock(blocks: unknown[], param: string, each: (b: Record<string, unknown>, at: string) => void): void {
  blocks.forEach((b, i) => {
    const at = `${param}[${i}]`;
    if (!isObject(b)) bad(`${at} must be a content block`, at);
    each(b, at);
  });
}

/** A string, or an array of text blocks (system prompts and tool results). */
function textBlocks(content: unknown, param: string, size: RequestSize): string | ContentPart[] {
  const c = stringOrArray(content, param, size, 'text blocks');
  if (typeof c === 'string') return c;
  return joined(
    c.map((b, i) => {
      if (!isObject(b) || b.type !== 'text') {
        const what = isObject(b) && b.type === 'image' ? 'image blocks are not supported here' : 'must be a text block';
        return bad(`${param}[${i}] ${what}`, `${param}[${i}]`, isObject(b) && b.type === 'image' ? 'unsupported_value' : 'invalid_value');
      }
      return textBlock(b, `${param}[${i}]`, size);
    }),
  );
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

function imageBlock(b: Record<string, unknown>, param: string, size: RequestSize, limits: RequestLimits): ContentPart {
  onlyKeys(b, new Set(['type', 'source', 'cache_control']), param);
  const cc = cached(cacheControl(b, param));
  const src = b.source;
  if (!isObject(src)) bad(`${param}.source must be an object`, `${param}.source`);
  if (src.type === 'url') {
    onlyKeys(src, new Set(['type', 'url']), `${param}.source`);
    return { type: 'image_url', image_url: { url: imageUrl(src.url, `${param}.source.url`, size, limits) }, ...cc };
  }
  if (src.type !== 'base64') bad(`${param}.source.type must be base64 or url`, `${param}.source.type`, src.type === 'file' ? 'unsupported_value' : 'invalid_value');
  onlyKeys(src, new Set(['type', 'media_type', 'data']), `${param}.source`);
  if (typeof src.media_type !== 'string' || !IMAGE_TYPES.has(src.media_type))
    bad(`${param}.source.media_type must be image/jpeg, image/png, image/gif or image/webp`, `${param}.source.media_type`);
  if (typeof src.data !== 'string') bad(`${param}.source.data must be base64`, `${param}.source.data`);
  return { type: 'image_url', image_url: { url: imageUrl(`data:${src.media_type};base64,${src.data}`, `${param}.source.data`, size, limits) }, ...cc };
}

function userTurn(content: unknown, param: string, size: RequestSize, limits: RequestLimits): ChatMessage[] {
  const c = stringOrArray(content, param, size, 'content blocks');
  if (typeof c === 'string') return [{ role: 'user', content: c }];
  const tools: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  eachBlock(c, param, (b, at) => {
    if (b.type === 'text') parts.push(textBlock(b, at, size));
    else if (b.type === 'image') parts.push(imageBlock(b, at, size, limits));
    else if (b.type === 'tool_result') {
      onlyKeys(b, new Set(['type', 'tool_use_id', 'content', 'is_error', 'cache_control']), at);
      const cc = cacheControl(b, at);
      if (typeof b.tool_use_id !== 'string' || b.tool_use_id.length === 0 || b.tool_use_id.length > 256) bad(`${at}.tool_use_id must be a tool_use id`, `${at}.tool_use_id`);
      size.add(b.tool_use_id);
      const msg: ChatMessage = { role: 'tool', tool_call_id: b.tool_use_id, content: b.content === undefined ? '' : textBlocks(b.content, `${at}.content`, size) };
      if (optBoolean(b.is_error, `${at}.is_error`)) msg.tool_error = true;
      if (cc !== undefined) msg.cache_control = cc;
      tools.push(msg);
    } else bad(`${at}.type ${JSON.stringify(b.type)} is not supported in a user message (text, image, tool_result)`, `${at}.type`, 'unsupported_value');
  });
  if (parts.length === 0) return tools;
  return [...tools, { role: 'user', content: joined(parts) }];
}

function assistantTurn(content: unknown, param: string, size: RequestSize): ChatMessage {
  const c = stringOrArray(content, param, size, 'content blocks');
  if (typeof c === 'string') return { role: 'assistant', content: c };
  const msg: ChatMessage = { role: 'assistant', content: '' };
  const text: ContentPart[] = [];
  const calls: ToolCallRef[] = [];
  eachBlock(c, param, (b, at) => {
    if (b.type === 'text') text.push(textBlock(b, at, size));
    else if (b.type === 'tool_use') {
      onlyKeys(b, new Set(['type', 'id', 'name', 'input', 'cache_control']), at);
      const cc = cached(cacheControl(b, at));
      if (typeof b.id !== 'string' || b.id.length === 0 || b.id.length > 256) bad(`${at}.id must be a non-empty string`, `${at}.id`);
      const name = toolName(b.name, `${at}.name`);
      if (!isObject(b.input)) bad(`${at}.input must be an object`, `${at}.input`);
      const args = boundedJson(b.input, `${at}.input`);
      size.add(b.id);
      size.add(name);
      size.add(args);
      calls.push({ id: b.id, type: 'function', function: { name, arguments: args }, ...cc });
    } else if (b.type === 'thinking' || b.type === 'redacted_thinking') {
      if (msg.reasoning) bad(`${at}: only one thinking block per assistant message is supported`, at, 'unsupported_value');
      if (b.type === 'thinking') {
        onlyKeys(b, new Set(['type', 'thinking', 'signature']), at);
        if (typeof b.thinking !== 'string') bad(`${at}.thinking must be a string`, `${at}.thinking`);
        const signature = optString(b.signature, `${at}.signature`);
        size.add(b.thinking);
        msg.reasoning = signature === undefined ? { text: b.thinking } : { text: b.thinking, signature };
      } else {
        onlyKeys(b, new Set(['type', 'data']), at);
        if (typeof b.data !== 'string') bad(`${at}.data must be a string`, `${at}.data`);
        msg.reasoning = { text: '', redacted: b.data };
      }
    } else bad(`${at}.type ${JSON.stringify(b.type)} is not supported in an assistant message (text, tool_use, thinking)`, `${at}.type`, 'unsupported_value');
  });
  msg.content = joined(text);
  if (calls.length > 0) msg.tool_calls = calls;
  return msg;
}

function parseTools(v: unknown, size: RequestSize): ToolDefinition[] | undefined {
  return parseToolArray(v, (t, at, unique) => {
    if (t.type !== undefined && t.type !== null && t.type !== 'custom')
      bad(`${at}.type ${JSON.stringify(t.type)}: server tools are not supported`, `${at}.type`, 'unsupported_value');
    onlyKeys(t, new Set(['type', 'name', 'description', 'input_schema', 'cache_control']), at);
    const cc = cached(cacheControl(t, at));
    const name = unique(toolName(t.name, `${at}.name`), `${at}.name`);
    size.add(name);
    const parameters = jsonSchemaObject(t.input_schema, `${at}.input_schema`);
    size.add(boundedJson(parameters, `${at}.input_schema`));
    const fn: ToolDefinition['function'] = { name, parameters };
    const description = optString(t.description, `${at}.description`);
    if (description !== undefined) {
      fn.description = description;
      size.add(description);
    }
    return { type: 'function', function: fn, ...cc };
  });
}

function parseToolChoice(v: unknown, tools: readonly ToolDefinition[] | undefined): { choice?: ToolChoice; parallel?: boolean } {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) bad('tool_choice must be an object ({"type":"auto"|"any"|"tool"|"none"})', 'tool_choice');
  const parallel = optBoolean(v.disable_parallel_tool_use, 'tool_choice.disable_parallel_tool_use');
  const out: { choice?: ToolChoice; parallel?: boolean } = parallel === undefined ? {} : { parallel: !parallel };
  if (v.type === 'auto' || v.type === 'any' || v.type === 'none') {
    onlyKeys(v, new Set(['type', 'disable_parallel_tool_use']), 'tool_choice');
    if (v.type === 'any' && !tools?.length) bad('tool_choice "any" needs tools', 'tool_choice');
    out.choice = v.type === 'any' ? 'required' : v.type;
    return out;
  }
  if (v.type !== 'tool') bad('tool_choice.type must be auto, any, tool or none', 'tool_choice.type');
  onlyKeys(v, new Set(['type', 'name', 'disable_parallel_tool_use']), 'tool_choice');
  const name = toolName(v.name, 'tool_choice.name');
  if (!tools?.some((t) => t.function.name === name)) bad(`tool_choice names ${name}, which is not one of tools`, 'tool_choice.name');
  out.choice = { type: 'function', function: { name } };
  return out;
}

function parseThinking(v: unknown, maxTokens: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad('thinking must be an object', 'thinking');
  if (v.type === 'disabled') {
    onlyKeys(v, new Set(['type']), 'thinking');
    return undefined;
  }
  if (v.type !== 'enabled') bad('thinking.type must be "enabled" or "disabled"', 'thinking.type');
  onlyKeys(v, new Set(['type', 'budget_tokens']), 'thinking');
  const b = v.budget_tokens;
  if (typeof b !== 'number' || !Number.isInteger(b) || b < 1024) bad('thinking.budget_tokens must be an integer of at least 1024', 'thinking.budget_tokens');
  if (b >= maxTokens) bad('thinking.budget_tokens must be less than max_tokens', 'thinking.budget_tokens');
  return b;
}

export function parseMessagesRequest(body: unknown, limits: RequestLimits): GenerationRequest {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  onlyKeys(body, TOP_KEYS, null, TOP_UNSUPPORTED);
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) bad('model: Field required', 'model');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(model)) bad('model must not contain control characters', 'model');
  const max = body.max_tokens;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) bad('max_tokens: Field required (a positive integer)', 'max_tokens');
  if (max > limits.maxTokensCap) bad(`max_tokens must be at most ${limits.maxTokensCap}`, 'max_tokens', 'max_tokens_exceeded');
  if (!Array.isArray(body.messages) || body.messages.length === 0) bad('messages: Field required (a non-empty array)', 'messages');
  const size = new RequestSize();
  const messages: ChatMessage[] = [];
  if (body.system !== undefined && body.system !== null) messages.push({ role: 'system', content: textBlocks(body.system, 'system', size) });
  body.messages.forEach((m: unknown, i: number) => {
    const at = `messages.${i}`;
    if (!isObject(m) || (m.role !== 'user' && m.role !== 'assistant')) bad(`${at}.role must be "user" or "assistant"`, `${at}.role`);
    onlyKeys(m, new Set(['role', 'content']), at);
    if (m.role === 'user') messages.push(...userTurn(m.content, `${at}.content`, size, limits));
    else messages.push(assistantTurn(m.content, `${at}.content`, size));
  });
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') bad('stream must be a boolean', 'stream');
  const params: Record<string, unknown> = {};
  for (const k of ['temperature', 'top_p'] as const) {
    if (body[k] === undefined || body[k] === null) continue;
    if (typeof body[k] !== 'number' || !Number.isFinite(body[k])) bad(`${k} must be a number`, k);
    params[k] = body[k];
  }
  if (body.top_k !== undefined && body.top_k !== null) {
    if (typeof body.top_k !== 'number' || !Number.isInteger(body.top_k) || body.top_k < 0) bad('top_k must be a non-negative integer', 'top_k');
    params.top_k = body.top_k;
  }
  if (body.stop_sequences !== undefined && body.stop_sequences !== null) {
    const s = body.stop_sequences;
    if (!Array.isArray(s) || !s.every((x) => typeof x === 'string') || s.length > 16) bad('stop_sequences must be an array of at most 16 strings', 'stop_sequences');
    for (const x of s) size.add(x);
    params.stop = s;
  }
  if (body.service_tier !== undefined && body.service_tier !== null) params.service_tier = optString(body.service_tier, 'service_tier', 64);
  const tools = parseTools(body.tools, size);
  const { choice, parallel } = parseToolChoice(body.tool_choice, tools);
  const budget = parseThinking(body.thinking, max);
  let metadata: Record<string, string> | undefined;
  if (body.metadata !== undefined && body.metadata !== null) {
    if (!isObject(body.metadata)) bad('metadata must be an object', 'metadata');
    onlyKeys(body.metadata, new Set(['user_id']), 'metadata');
    metadata = parseMetadata(body.metadata, size);
  }
  if (size.chars > limits.maxPromptChars) bad(`the prompt is too long: ${size.chars} characters, at most ${limits.maxPromptChars}`, 'messages', 'context_length_exceeded');
  const req: GenerationRequest = { kind: 'chat', api: 'anthropic', model, messages, prompt: '', maxTokens: max, stream: body.stream === true, includeUsage: true, params };
  if (tools?.length) req.tools = tools;
  if (choice !== undefined) req.toolChoice = choice;
  if (parallel !== undefined) req.parallelToolCalls = parallel;
  if (budget !== undefined) req.reasoning = { budgetTokens: budget };
  if (metadata && Object.keys(metadata).length > 0) req.metadata = metadata;
  return req;
}
