import { parseMetadata, parseResponseFormat, parseToolChoice, parseTools, userContentPart } from './tools.js';
import { bad, isObject, onlyKeys, optBoolean, optString, RequestSize, toolName } from './validate.js';

/**
 * OpenAI-compatible request bodies, validated once at the edge and stored with the generation
 * in this normalised shape, so the producer never sees unchecked input.
 */
export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

/**
 * An Anthropic prompt-caching breakpoint, as the caller sent it on a block or tool: the prefix up
 * to and including it is cached. `ttl` absent: Anthropic's default (5 minutes). Only Anthropic
 * upstreams read it; the others are sent the request without it (a billing hint, not content:
 * OpenAI-style APIs cache prefixes on their own; docs/PROTOCOL.md, "What each upstream reads").
 */
export interface CacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

/**
 * A content part of a message (OpenAI's shapes; the Anthropic parser translates into them).
 * `cache_control`: only from /v1/messages, on text and image blocks.
 */
export type ContentPart =
  | { type: 'text'; text: string; cache_control?: CacheControl }
  /** url: an http(s) URL or a base64 data URL (within the media cap). */
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' }; cache_control?: CacheControl }
  /** data: base64 audio. */
  | { type: 'input_audio'; input_audio: { data: string; format: 'wav' | 'mp3' } };

/** A tool call the assistant made in an earlier turn. */
export interface ToolCallRef {
  id: string;
  type: 'function';
  /** arguments: the JSON text exactly as the model produced it. */
  function: { name: string; arguments: string };
  /** The tool_use block's caching breakpoint (/v1/messages only). */
  cache_control?: CacheControl;
}

export interface ChatMessage {
  role: ChatRole;
  /**
   * A string, or parts when the message has images or audio, or a part carries cache_control
   * (otherwise text-only parts are joined into a string).
   */
  content: string | ContentPart[];
  name?: string;
  /** Assistant messages: the tool calls of that turn. */
  tool_calls?: ToolCallRef[];
  /** Tool messages: the call this message answers. */
  tool_call_id?: string;
  /** Tool messages: the tool reported an error (Anthropic's tool_result is_error). */
  tool_error?: boolean;
  /** Tool messages: the tool_result block's caching breakpoint (/v1/messages only). */
  cache_control?: CacheControl;
  /**
   * Assistant messages: the turn's reasoning as the caller sent it back (Anthropic thinking
   * blocks with their signature, or reasoning_content). `redacted`: a redacted_thinking block's data.
   */
  reasoning?: { text: string; signature?: string; redacted?: string };
}

export interface ToolDefinition {
  type: 'function';
  /** parameters: a JSON Schema object; absent: the tool takes no arguments. */
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
  /** The tool definition's caching breakpoint (/v1/messages only). */
  cache_control?: CacheControl;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean } };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

export interface ReasoningOptions {
  /** OpenAI's reasoning_effort / reasoning.effort. */
  effort?: ReasoningEffort;
  /** Anthropic's thinking.budget_tokens. */
  budgetTokens?: number;
  /** The Responses API's reasoning.summary (auto, concise, detailed). */
  summary?: string;
}

export interface GenerationRequest {
  kind: 'chat' | 'completion';
  /** Wire format the generation streams in by default: OpenAI's unless created through /v1/messages or /v1/responses. */
  api?: 'openai' | 'anthropic' | 'responses';
  model: string;
  /** Chat requests only; empty for completions. */
  messages: ChatMessage[];
  /** Completion requests only; empty string for chat. */
  prompt: string;
  /** null: the model decides (the mock uses its default). */
  maxTokens: number | null;
  stream: boolean;
  includeUsage: boolean;
  /**
   * tokencast extension (body field on_disconnect): what happens when the last viewer leaves.
   * 'continue' (default): the generation runs on and stays resumable. 'cancel': it is cancelled
   * once no viewer has been connected anywhere for the edge's grace period.
   */
  onDisconnect?: 'continue' | 'cancel';
  /** tokencast extension (stream_options.include_timings): end the stream with a timing summary. */
  includeTimings?: boolean;
  /** Sampling parameters passed to an upstream as given (temperature, top_p, stop, seed, …). */
  params: Record<string, unknown>;
  /** Tools the model may call; absent: none. */
  tools?: ToolDefinition[];
  /** Absent: the upstream's default (auto when tools are given). */
  toolChoice?: ToolChoice;
  /** Absent: the upstream's default (true for OpenAI). */
  parallelToolCalls?: boolean;
  /** Absent: text. */
  responseFormat?: ResponseFormat;
  /** Absent: the model's default reasoning. */
  reasoning?: ReasoningOptions;
  /** Return log probabilities of the output tokens. */
  logprobs?: boolean;
  /** Alternatives per token (0–20); needs logprobs. */
  topLogprobs?: number;
  /** Caller's key-value pairs, forwarded to upstreams that take them. */
  metadata?: Record<string, string>;
  /** Responses API requests only: what the Response object echoes (see responses-request.ts). */
  responses?: ResponsesOptions;
}

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

export interface RequestLimits {
  /** Largest max_tokens accepted. */
  maxTokensCap: number;
  /**
   * Largest prompt, in characters: every string the caller sent counts (message text, names,
   * tool calls and their arguments, tool definitions and schemas, image URLs), except data URLs
   * and audio, which count toward maxMediaBytes.
   */
  maxPromptChars: number;
  /** Decoded bytes of all data-URL images and audio in one request; absent: DEFAULT_MAX_MEDIA_BYTES. */
  maxMediaBytes?: number;
}

const ROLES = new Set<ChatRole>(['system', 'developer', 'user', 'assistant', 'tool']);
const PASSTHROUGH: Record<string, 'number' | 'stop' | 'integer' | 'object' | 'string' | 'boolean'> = {
  temperature: 'number',
  top_p: 'number',
  presence_penalty: 'number',
  frequency_penalty: 'number',
  seed: 'integer',
  stop: 'stop',
  logit_bias: 'object',
  user: 'string',
  // OpenAI request options that change no output format: forwarded as given.
  store: 'boolean',
  service_tier: 'string',
  prompt_cache_key: 'string',
  prompt_cache_retention: 'string',
  safety_identifier: 'string',
  verbosity: 'string',
  // Sampling extensions of vLLM, llama.cpp and Anthropic (top_k).
  top_k: 'integer',
  min_p: 'number',
  repetition_penalty: 'number',
};

/** Fields of the OpenAI APIs that tokencast cannot carry, with the reason the 400 gives. */
const UNSUPPORTED: Record<string, string> = {
  audio: 'audio output is not supported',
  functions: 'use tools instead of the deprecated functions',
  function_call: 'use tool_choice instead of the deprecated function_call',
  prediction: 'predicted outputs are not supported',
  web_search_options: 'web search is not supported',
  moderation: 'moderation is not supported',
  prompt_cache_options: 'prompt cache options are not supported',
};

const COMMON_KEYS = [
  'model',
  'max_tokens',
  'max_completion_tokens',
  'stream',
  'stream_options',
  'n',
  'on_disconnect',
  'logprobs',
  'metadata',
  'modalities',
  ...Object.keys(PASSTHROUGH),
];
const CHAT_KEYS = new Set([...COMMON_KEYS, 'messages', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'reasoning_effort', 'top_logprobs']);
const COMPLETION_KEYS = new Set([...COMMON_KEYS, 'prompt', 'echo', 'suffix', 'best_of']);
const STREAM_OPTION_KEYS = new Set(['include_usage', 'include_timings', 'include_obfuscation']);
const REASONING_EFFORTS = new Set<ReasoningEffort>(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);

function parseModel(body: Record<string, unknown>): string {
  const model = body.model;
  if (model === undefined) bad('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) bad('model must be a non-empty string', 'model');
  // Model names reach SSE payloads and logs: refuse control characters outright.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f]/.test(model)) bad('model must not contain control characters', 'model');
  return model;
}

/** The parts of a request every API shares: limits, streaming, sampling, tokencast's extensions. */
export function parseCommon(body: Record<string, unknown>, limits: RequestLimits, size: RequestSize) {
  let maxTokens: number | null = null;
  const rawMax = body.max_completion_tokens ?? body.max_tokens;
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1) bad('max_tokens must be a positive integer', 'max_tokens');
    if (rawMax > limits.maxTokensCap) bad(`max_tokens must be at most ${limits.maxTokensCap}`, 'max_tokens', 'max_tokens_exceeded');
    maxTokens = rawMax;
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') bad('stream must be a boolean', 'stream');
  const so = body.stream_options;
  let includeUsage = false;
  let includeTimings = false;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) bad('stream_options must be an object', 'stream_options');
    onlyKeys(so, STREAM_OPTION_KEYS, 'stream_options');
    if (so.include_usage !== undefined && typeof so.include_usage !== 'boolean') bad('stream_options.include_usage must be a boolean', 'stream_options.include_usage');
    includeUsage = so.include_usage === true;
    if (so.include_timings !== undefined && typeof so.include_timings !== 'boolean') bad('stream_options.include_timings must be a boolean', 'stream_options.include_timings');
    includeTimings = so.include_timings === true;
    // include_obfuscation: tokencast never pads its chunks, so either value holds.
    optBoolean(so.include_obfuscation, 'stream_options.include_obfuscation');
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) bad('only n=1 is supported', 'n', 'unsupported_value');
  const mod = body.modalities;
  if (mod !== undefined && mod !== null && !(Array.isArray(mod) && mod.every((m) => m === 'text')))
    bad('modalities: only ["text"] is supported (no audio output)', 'modalities', 'unsupported_value');
  const params: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(PASSTHROUGH)) {
    const v = body[name];
    if (v === undefined || v === null) continue;
    const ok =
      (type === 'number' && typeof v === 'number' && Number.isFinite(v)) ||
      (type === 'integer' && typeof v === 'number' && Number.isInteger(v)) ||
      (type === 'string' && typeof v === 'string' && v.length <= 512) ||
      (type === 'boolean' && typeof v === 'boolean') ||
      // logit_bias: token id → bias; numbers only, so nothing nested is ever stored.
      (type === 'object' && isObject(v) && Object.keys(v).length <= 1024 && Object.values(v).every((b) => typeof b === 'number' && b >= -100 && b <= 100)) ||
      (type === 'stop' && (typeof v === 'string' || (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string'))));
    if (!ok) bad(`${name} has the wrong type`, name);
    if (type === 'string') size.add(v as string);
    if (type === 'stop') size.add(([] as string[]).concat(v as string | string[]).join(''));
    params[name] = v;
  }
  const od = body.on_disconnect;
  if (od !== undefined && od !== null && od !== 'continue' && od !== 'cancel') bad('on_disconnect must be "continue" or "cancel"', 'on_disconnect');
  const metadata = parseMetadata(body.metadata, size);
  return {
    maxTokens,
    stream: body.stream === true,
    includeUsage,
    includeTimings,
    ...(od === 'cancel' || od === 'continue' ? { onDisconnect: od as 'cancel' | 'continue' } : {}),
    params,
    ...(metadata !== undefined ? { metadata } : {}),
  };
}

/** Text-only content: a string, or text parts (joined). null is an empty text. */
function textContent(content: unknown, param: string, size: RequestSize, allowNull: boolean): string {
  if (typeof content === 'string') {
    size.add(content);
    return content;
  }
  if ((content === null || content === undefined) && allowNull) return '';
  if (Array.isArray(content)) {
    return content
      .map((part, i) => {
        const at = `${param}[${i}]`;
        if (!isObject(part)) return bad(`${at} must be a text part ({"type":"text","text":…})`, at);
        if (part.type === 'refusal') bad(`${at}: refusal parts in the conversation are not supported`, at, 'unsupported_value');
        if (part.type !== 'text') bad(`${at} must be a text part ({"type":"text","text":…}) in this message`, at);
        onlyKeys(part, new Set(['type', 'text']), at);
        if (typeof part.text !== 'string') bad(`${at}.text must be a string`, `${at}.text`);
        size.add(part.text);
        return part.text;
      })
      .join('');
  }
  return bad(`${param} must be a string or an array of text parts`, param);
}

/** User content: text, or parts with images and audio (kept as parts only when they have any). */
function userContent(content: unknown, param: string, size: RequestSize, limits: RequestLimits): string | ContentPart[] {
  if (!Array.isArray(content)) return textContent(content, param, size, false);
  const parts = content.map((p, i) => userContentPart(p, `${param}[${i}]`, size, limits));
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('');
  return parts;
}

const TOOL_CALL_KEYS = new Set(['id', 'type', 'function']);
const TOOL_CALL_FUNCTION_KEYS = new Set(['name', 'arguments']);

function toolCalls(v: unknown, param: string, size: RequestSize): ToolCallRef[] {
  if (!Array.isArray(v)) bad(`${param} must be an array`, param);
  return v.map((c, i): ToolCallRef => {
    const at = `${param}[${i}]`;
    if (!isObject(c)) bad(`${at} must be an object`, at);
    if (c.type !== 'function') bad(`${at}.type must be "function"`, `${at}.type`);
    onlyKeys(c, TOOL_CALL_KEYS, at);
    if (typeof c.id !== 'string' || c.id.length === 0 || c.id.length > 256) bad(`${at}.id must be a non-empty string`, `${at}.id`);
    const f = c.function;
    if (!isObject(f)) bad(`${at}.function must be an object`, `${at}.function`);
    onlyKeys(f, TOOL_CALL_FUNCTION_KEYS, `${at}.function`);
    const name = toolName(f.name, `${at}.function.name`);
    if (typeof f.arguments !== 'string') bad(`${at}.function.arguments must be a string (JSON text)`, `${at}.function.arguments`);
    size.add(c.id);
    size.add(name);
    size.add(f.arguments);
    return { id: c.id, type: 'function', function: { name, arguments: f.arguments } };
  });
}

const MESSAGE_KEYS: Record<ChatRole, ReadonlySet<string>> = {
  system: new Set(['role', 'content', 'name']),
  developer: new Set(['role', 'content', 'name']),
  user: new Set(['role', 'content', 'name']),
  // annotations: output metadata of a response passed back as is; accepted only empty (see below).
  assistant: new Set(['role', 'content', 'name', 'tool_calls', 'reasoning_content', 'refusal', 'annotations']),
  tool: new Set(['role', 'content', 'tool_call_id']),
};
const MESSAGE_UNSUPPORTED: Record<string, string> = {
  audio: 'assistant audio in the conversation is not supported',
  function_call: 'use tool_calls instead of the deprecated function_call',
};

function chatMessage(m: unknown, i: number, size: RequestSize, limits: RequestLimits): ChatMessage {
  const param = `messages[${i}]`;
  if (!isObject(m)) bad(`${param} must be an object`, param);
  if (typeof m.role !== 'string' || !ROLES.has(m.role as ChatRole)) bad(`${param}.role must be one of ${[...ROLES].join(', ')}`, `${param}.role`);
  const role = m.role as ChatRole;
  onlyKeys(m, MESSAGE_KEYS[role], param, MESSAGE_UNSUPPORTED);
  const content = role === 'user' ? userContent(m.content, `${param}.content`, size, limits) : textContent(m.content, `${param}.content`, size, role === 'assistant');
  const msg: ChatMessage = { role, content };
  const name = optString(m.name, `${param}.name`, 256);
  if (name !== undefined) {
    msg.name = name;
    size.add(name);
  }
  if (role === 'assistant') {
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      const calls = toolCalls(m.tool_calls, `${param}.tool_calls`, size);
      if (calls.length > 0) msg.tool_calls = calls;
    }
    const reasoning = optString(m.reasoning_content, `${param}.reasoning_content`);
    if (reasoning) {
      msg.reasoning = { text: reasoning };
      size.add(reasoning);
    }
    if (typeof m.refusal === 'string') bad(`${param}.refusal: a refusal in the conversation is not supported`, `${param}.refusal`, 'unsupported_value');
    if (m.annotations !== undefined && m.annotations !== null && !(Array.isArray(m.annotations) && m.annotations.length === 0))
      bad(`${param}.annotations: annotations in the conversation are not supported`, `${param}.annotations`, 'unsupported_value');
  }
  if (role === 'tool') {
    if (typeof m.tool_call_id !== 'string' || m.tool_call_id.length === 0 || m.tool_call_id.length > 256)
      bad(`${param}.tool_call_id must be the id of the tool call this message answers`, `${param}.tool_call_id`);
    msg.tool_call_id = m.tool_call_id;
    size.add(m.tool_call_id);
  }
  return msg;
}

function checkPromptSize(size: RequestSize, limits: RequestLimits, param: string): void {
  if (size.chars > limits.maxPromptChars) bad(`the prompt is too long: ${size.chars} characters, at most ${limits.maxPromptChars}`, param, 'context_length_exceeded');
}

/**
 * What both OpenAI bodies check first, in this order: a JSON object, its model, the field it cannot
 * do without (`messages`, `prompt`: answered as `raw`), and only keys of `known`.
 */
function openAiBody(body: unknown, required: 'messages' | 'prompt', known: ReadonlySet<string>): { body: Record<string, unknown>; model: string; raw: unknown } {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  const model = parseModel(body);
  const raw = body[required];
  if (raw === undefined) bad(`you must provide a ${required} parameter`, required, 'missing_required_parameter');
  onlyKeys(body, known, null, UNSUPPORTED);
  return { body, model, raw };
}

export function parseChatRequest(input: unknown, limits: RequestLimits): GenerationRequest {
  const { body, model, raw } = openAiBody(input, 'messages', CHAT_KEYS);
  if (!Array.isArray(raw) || raw.length === 0) bad('messages must be a non-empty array', 'messages');
  const size = new RequestSize();
  const messages = raw.map((m, i) => chatMessage(m, i, size, limits));
  const common = parseCommon(body, limits, size);
  const logprobs = optBoolean(body.logprobs, 'logprobs');
  const tools = parseTools(body.tools, size);
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  const parallelToolCalls = optBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  const responseFormat = parseResponseFormat(body.response_format, size);
  const effort = body.reasoning_effort;
  if (effort !== undefined && effort !== null && !REASONING_EFFORTS.has(effort as ReasoningEffort))
    bad(`reasoning_effort must be one of ${[...REASONING_EFFORTS].join(', ')}`, 'reasoning_effort');
  const top = body.top_logprobs;
  if (top !== undefined && top !== null) {
    if (typeof top !== 'number' || !Number.isInteger(top) || top < 0 || top > 20) bad('top_logprobs must be an integer from 0 to 20', 'top_logprobs');
    if (logprobs !== true) bad('top_logprobs needs logprobs: true', 'top_logprobs');
  }
  checkPromptSize(size, limits, 'messages');
  const req: GenerationRequest = { kind: 'chat', model, messages, prompt: '', ...common };
  if (tools?.length) req.tools = tools;
  if (toolChoice !== undefined) req.toolChoice = toolChoice;
  if (parallelToolCalls !== undefined) req.parallelToolCalls = parallelToolCalls;
  if (responseFormat !== undefined) req.responseFormat = responseFormat;
  if (typeof effort === 'string') req.reasoning = { effort: effort as ReasoningEffort };
  if (logprobs !== undefined) req.logprobs = logprobs;
  if (typeof top === 'number') req.topLogprobs = top;
  return req;
}

export function parseCompletionRequest(input: unknown, limits: RequestLimits): GenerationRequest {
  const { body, model, raw } = openAiBody(input, 'prompt', COMPLETION_KEYS);
  let prompt: string;
  if (typeof raw === 'string') prompt = raw;
  else if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string') prompt = raw[0];
  else bad('prompt must be a string (or an array of exactly one string)', 'prompt');
  if (body.echo !== undefined && body.echo !== null && body.echo !== false) bad('echo is not supported', 'echo', 'unsupported_value');
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1) bad('only best_of=1 is supported', 'best_of', 'unsupported_value');
  if (body.suffix !== undefined && body.suffix !== null) bad('suffix is not supported', 'suffix', 'unsupported_value');
  const size = new RequestSize();
  size.add(prompt);
  const common = parseCommon(body, limits, size);
  // The legacy API's logprobs is a number: alternatives per token (0–5).
  const lp = body.logprobs;
  if (lp !== undefined && lp !== null && (typeof lp !== 'number' || !Number.isInteger(lp) || lp < 0 || lp > 5)) bad('logprobs must be an integer from 0 to 5', 'logprobs');
  if (size.chars > limits.maxPromptChars) bad(`the prompt is too long: ${size.chars} characters, at most ${limits.maxPromptChars}`, 'prompt', 'context_length_exceeded');
  const req: GenerationRequest = { kind: 'completion', model, messages: [], prompt, ...common };
  if (typeof lp === 'number') {
    req.logprobs = true;
    req.topLogprobs = lp;
  }
  return req;
}

/** The text of a message's content: parts' text joined (images and audio have none). */
export function contentText(content: string | ContentPart[]): string {
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/**
 * The text a prompt-only model (the mock) sees: every message's content, in order, then the
 * tool calls of assistant turns (name and arguments) on their own lines.
 */
export function promptText(req: GenerationRequest): string {
  if (req.kind === 'completion') return req.prompt;
  return req.messages
    .map((m) => {
      const calls = m.tool_calls?.map((c) => `\n${c.function.name} ${c.function.arguments}`).join('') ?? '';
      return contentText(m.content) + calls;
    })
    .join('\n');
}
