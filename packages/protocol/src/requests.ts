import { InvalidRequestError } from './errors.js';
import type { ResponsesOptions } from './responses-request.js';

/**
 * OpenAI-compatible request bodies, validated once at the edge and stored with the generation
 * in this normalised shape, so the producer never sees unchecked input.
 */
export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } };
export interface ChatMessage {
  role: ChatRole;
  content: string | ContentPart[];
  name?: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  reasoning?: { text: string; signature?: string };
}

export interface GenerationRequest {
  kind: 'chat' | 'completion';
  /** Wire format the generation streams in by default: OpenAI's unless created through /v1/messages. */
  api?: 'openai' | 'anthropic' | 'responses';
  tools?: { type: 'function'; function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean } }[];
  toolChoice?: 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };
  parallelToolCalls?: boolean;
  responseFormat?:
    | { type: 'text' }
    | { type: 'json_object' }
    | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean } };
  reasoning?: { effort?: 'minimal' | 'low' | 'medium' | 'high'; budgetTokens?: number; summary?: string };
  logprobs?: boolean;
  topLogprobs?: number;
  metadata?: Record<string, string>;
  /** Responses API requests only: what the Response object echoes (see responses-request.ts). */
  responses?: ResponsesOptions;
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
}

export interface RequestLimits {
  /** Largest max_tokens accepted. */
  maxTokensCap: number;
  /** Largest prompt, in characters over all messages. */
  maxPromptChars: number;
}

const ROLES = new Set<ChatRole>(['system', 'developer', 'user', 'assistant', 'tool']);
const PASSTHROUGH: Record<string, 'number' | 'stop' | 'integer' | 'object' | 'string'> = {
  temperature: 'number',
  top_p: 'number',
  presence_penalty: 'number',
  frequency_penalty: 'number',
  seed: 'integer',
  stop: 'stop',
  logit_bias: 'object',
  user: 'string',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string, param: string | null, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, code, { param });
}

function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  if (Array.isArray(content)) {
    return content
      .map((part, i) => {
        if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
        return bad(`${param}[${i}] must be a text part ({"type":"text","text":…})`, `${param}[${i}]`);
      })
      .join('');
  }
  return bad(`${param} must be a string or an array of text parts`, param);
}

function parseModel(body: Record<string, unknown>): string {
  const model = body.model;
  if (model === undefined) bad('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) bad('model must be a non-empty string', 'model');
  // Model names reach SSE payloads and logs: refuse control characters outright.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f]/.test(model)) bad('model must not contain control characters', 'model');
  return model;
}

function parseCommon(body: Record<string, unknown>, limits: RequestLimits) {
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
    if (so.include_usage !== undefined && typeof so.include_usage !== 'boolean') bad('stream_options.include_usage must be a boolean', 'stream_options.include_usage');
    includeUsage = so.include_usage === true;
    if (so.include_timings !== undefined && typeof so.include_timings !== 'boolean') bad('stream_options.include_timings must be a boolean', 'stream_options.include_timings');
    includeTimings = so.include_timings === true;
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) bad('only n=1 is supported', 'n', 'unsupported_value');
  const params: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(PASSTHROUGH)) {
    const v = body[name];
    if (v === undefined || v === null) continue;
    const ok =
      (type === 'number' && typeof v === 'number' && Number.isFinite(v)) ||
      (type === 'integer' && typeof v === 'number' && Number.isInteger(v)) ||
      (type === 'string' && typeof v === 'string') ||
      (type === 'object' && isObject(v)) ||
      (type === 'stop' && (typeof v === 'string' || (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string'))));
    if (!ok) bad(`${name} has the wrong type`, name);
    params[name] = v;
  }
  const od = body.on_disconnect;
  if (od !== undefined && od !== null && od !== 'continue' && od !== 'cancel') bad('on_disconnect must be "continue" or "cancel"', 'on_disconnect');
  return {
    maxTokens,
    stream: body.stream === true,
    includeUsage,
    includeTimings,
    ...(od === 'cancel' || od === 'continue' ? { onDisconnect: od as 'cancel' | 'continue' } : {}),
    params,
  };
}

export function parseChatRequest(body: unknown, limits: RequestLimits): GenerationRequest {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  const model = parseModel(body);
  const raw = body.messages;
  if (raw === undefined) bad('you must provide a messages parameter', 'messages', 'missing_required_parameter');
  if (!Array.isArray(raw) || raw.length === 0) bad('messages must be a non-empty array', 'messages');
  let chars = 0;
  const messages = raw.map((m, i): ChatMessage => {
    const param = `messages[${i}]`;
    if (!isObject(m)) bad(`${param} must be an object`, param);
    if (typeof m.role !== 'string' || !ROLES.has(m.role as ChatRole)) bad(`${param}.role must be one of ${[...ROLES].join(', ')}`, `${param}.role`);
    const content = textOf(m.content, `${param}.content`);
    chars += content.length;
    const msg: ChatMessage = { role: m.role as ChatRole, content };
    if (typeof m.name === 'string') msg.name = m.name;
    return msg;
  });
  if (chars > limits.maxPromptChars) bad(`the prompt is too long: ${chars} characters, at most ${limits.maxPromptChars}`, 'messages', 'context_length_exceeded');
  return { kind: 'chat', model, messages, prompt: '', ...parseCommon(body, limits) };
}

export function parseCompletionRequest(body: unknown, limits: RequestLimits): GenerationRequest {
  if (!isObject(body)) bad('the request body must be a JSON object', null, 'invalid_json');
  const model = parseModel(body);
  const raw = body.prompt;
  if (raw === undefined) bad('you must provide a prompt parameter', 'prompt', 'missing_required_parameter');
  let prompt: string;
  if (typeof raw === 'string') prompt = raw;
  else if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string') prompt = raw[0];
  else bad('prompt must be a string (or an array of exactly one string)', 'prompt');
  if (prompt.length > limits.maxPromptChars) bad(`the prompt is too long: ${prompt.length} characters, at most ${limits.maxPromptChars}`, 'prompt', 'context_length_exceeded');
  return { kind: 'completion', model, messages: [], prompt, ...parseCommon(body, limits) };
}

/** The text a prompt-only model (the mock) sees: every message's content, in order. */
export function promptText(req: GenerationRequest): string {
  return req.kind === 'completion' ? req.prompt : req.messages.map((m) => m.content).join('\n');
}
