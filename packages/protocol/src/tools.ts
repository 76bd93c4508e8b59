import type { ContentPart, RequestLimits, ResponseFormat, ToolChoice, ToolDefinition } from './requests.js';
import { bad, boundedJson, isObject, jsonSchemaObject, onlyKeys, optBoolean, optString, type RequestSize, toolName } from './validate.js';

/**
 * The parts of a request beyond plain text, validated the same way for every API that carries
 * them: tool definitions, tool choice, structured output, image and audio input.
 */

/** Default cap on the decoded bytes of all data URLs and audio in one request (MAX_INPUT_MEDIA_BYTES). */
export const DEFAULT_MAX_MEDIA_BYTES = 768 * 1024;
/** Most tools one request may define (OpenAI's own limit). */
export const MAX_TOOLS = 128;
/** Longest image URL (not data URL) accepted. */
const MAX_URL_CHARS = 8_192;

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const AUDIO_FORMATS = new Set(['wav', 'mp3']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64Bytes(data: string, param: string): number {
  if (data.length % 4 !== 0 || !BASE64.test(data)) bad(`${param} must be base64`, param);
  const pad = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length / 4) * 3 - pad;
}

function countMedia(size: RequestSize, bytes: number, limits: RequestLimits, param: string): void {
  size.mediaBytes += bytes;
  const cap = limits.maxMediaBytes ?? DEFAULT_MAX_MEDIA_BYTES;
  if (size.mediaBytes > cap)
    bad(`images and audio in one request may total at most ${cap} bytes (MAX_INPUT_MEDIA_BYTES); this one has ${size.mediaBytes} at ${param}`, param, 'media_too_large');
}

/**
 * An image reference: an http(s) URL (its characters count toward the prompt) or a
 * `data:image/{png,jpeg,gif,webp};base64,…` URL (its decoded bytes count toward the media cap).
 */
export function imageUrl(url: unknown, param: string, size: RequestSize, limits: RequestLimits): string {
  if (typeof url !== 'string' || url.length === 0) bad(`${param} must be a non-empty string`, param);
  if (url.startsWith('data:')) {
    const m = /^data:([a-z]+\/[a-z0-9.+-]+);base64,(.*)$/s.exec(url);
    if (!m) bad(`${param} must be a base64 data URL (data:image/png;base64,…)`, param);
    if (!IMAGE_TYPES.has(m[1] as string)) bad(`${param}: images must be PNG, JPEG, GIF or WebP, not ${m[1]}`, param);
    countMedia(size, base64Bytes(m[2] as string, param), limits, param);
    return url;
  }
  if (url.length > MAX_URL_CHARS) bad(`${param} must be at most ${MAX_URL_CHARS} characters`, param);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return bad(`${param} must be an http(s) URL or a data URL`, param);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') bad(`${param} must be an http(s) URL or a data URL`, param);
  size.add(url);
  return url;
}

const IMAGE_PART_KEYS = new Set(['type', 'image_url']);
const IMAGE_URL_KEYS = new Set(['url', 'detail']);
const AUDIO_PART_KEYS = new Set(['type', 'input_audio']);
const AUDIO_KEYS = new Set(['data', 'format']);
const TEXT_PART_KEYS = new Set(['type', 'text']);

/** One OpenAI content part of a user message: text, image_url or input_audio. */
export function userContentPart(p: unknown, param: string, size: RequestSize, limits: RequestLimits): ContentPart {
  if (!isObject(p)) bad(`${param} must be a content part object`, param);
  if (p.type === 'text') {
    onlyKeys(p, TEXT_PART_KEYS, param);
    if (typeof p.text !== 'string') bad(`${param}.text must be a string`, `${param}.text`);
    size.add(p.text);
    return { type: 'text', text: p.text };
  }
  if (p.type === 'image_url') {
    onlyKeys(p, IMAGE_PART_KEYS, param);
    const iu = p.image_url;
    if (!isObject(iu)) bad(`${param}.image_url must be an object ({"url": …})`, `${param}.image_url`);
    onlyKeys(iu, IMAGE_URL_KEYS, `${param}.image_url`);
    const url = imageUrl(iu.url, `${param}.image_url.url`, size, limits);
    const detail = iu.detail;
    if (detail !== undefined && detail !== null && detail !== 'auto' && detail !== 'low' && detail !== 'high')
      bad(`${param}.image_url.detail must be auto, low or high`, `${param}.image_url.detail`);
    return { type: 'image_url', image_url: detail ? { url, detail } : { url } };
  }
  if (p.type === 'input_audio') {
    onlyKeys(p, AUDIO_PART_KEYS, param);
    const a = p.input_audio;
    if (!isObject(a)) bad(`${param}.input_audio must be an object ({"data", "format"})`, `${param}.input_audio`);
    onlyKeys(a, AUDIO_KEYS, `${param}.input_audio`);
    if (typeof a.format !== 'string' || !AUDIO_FORMATS.has(a.format)) bad(`${param}.input_audio.format must be wav or mp3`, `${param}.input_audio.format`);
    if (typeof a.data !== 'string' || a.data.length === 0) bad(`${param}.input_audio.data must be base64 audio`, `${param}.input_audio.data`);
    countMedia(size, base64Bytes(a.data, `${param}.input_audio.data`), limits, `${param}.input_audio.data`);
    return { type: 'input_audio', input_audio: { data: a.data, format: a.format as 'wav' | 'mp3' } };
  }
  if (p.type === 'file') bad(`${param}: file parts are not supported; send images as image_url parts`, param, 'unsupported_value');
  return bad(`${param}.type must be text, image_url or input_audio`, `${param}.type`);
}

const FUNCTION_TOOL_KEYS = new Set(['type', 'function']);
const FUNCTION_KEYS = new Set(['name', 'description', 'parameters', 'strict']);

/**
 * The `tools` array of any of the APIs: absent or null → undefined; else at most MAX_TOOLS
 * objects, each read by `one` (given its param, `tools[i]`, and `unique`, which refuses a name
 * given before and answers it).
 */
export function parseToolArray(
  v: unknown,
  one: (t: Record<string, unknown>, at: string, unique: (name: string, param: string) => string) => ToolDefinition,
): ToolDefinition[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) bad('tools must be an array', 'tools');
  if (v.length > MAX_TOOLS) bad(`at most ${MAX_TOOLS} tools`, 'tools');
  const names = new Set<string>();
  const unique = (name: string, param: string): string => {
    if (names.has(name)) bad(`${param}: tool names must be unique (${name})`, param);
    names.add(name);
    return name;
  };
  return v.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) bad(`${at} must be an object`, at);
    return one(t, at, unique);
  });
}

/**
 * A function tool's or a json_schema format's description, JSON schema (under `key`) and strict,
 * each only when given; the description and the schema count toward the prompt.
 */
export function describedSchema<K extends 'parameters' | 'schema'>(
  o: Record<string, unknown>,
  at: string,
  key: K,
  size: RequestSize,
): { description?: string; strict?: boolean } & { [P in K]?: Record<string, unknown> } {
  const out: { description?: string; strict?: boolean } & { [P in K]?: Record<string, unknown> } = {};
  const description = optString(o.description, `${at}.description`);
  if (description !== undefined) {
    out.description = description;
    size.add(description);
  }
  const raw = o[key];
  if (raw !== undefined && raw !== null) {
    const schema = jsonSchemaObject(raw, `${at}.${key}`);
    (out as Record<string, unknown>)[key] = schema;
    size.add(boundedJson(schema, `${at}.${key}`));
  }
  const strict = optBoolean(o.strict, `${at}.strict`);
  if (strict !== undefined) out.strict = strict;
  return out;
}

/** OpenAI's `tools`: function tools only (custom tools → 400). Schemas count toward the prompt. */
export function parseTools(v: unknown, size: RequestSize): ToolDefinition[] | undefined {
  return parseToolArray(v, (t, param, unique) => {
    if (t.type !== 'function')
      bad(`${param}.type must be "function" (other tool types are not supported)`, `${param}.type`, t.type === 'custom' ? 'unsupported_value' : 'invalid_value');
    onlyKeys(t, FUNCTION_TOOL_KEYS, param);
    const f = t.function;
    if (!isObject(f)) bad(`${param}.function must be an object`, `${param}.function`);
    onlyKeys(f, FUNCTION_KEYS, `${param}.function`);
    const name = unique(toolName(f.name, `${param}.function.name`), `${param}.function.name`);
    size.add(name);
    return { type: 'function', function: { name, ...describedSchema(f, `${param}.function`, 'parameters', size) } };
  });
}

/** OpenAI's `tool_choice`; a named tool must be one of `tools`. */
export function parseToolChoice(v: unknown, tools: readonly ToolDefinition[] | undefined, param = 'tool_choice'): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') {
    if (v === 'required' && !tools?.length) bad(`${param} "required" needs tools`, param);
    return v;
  }
  if (!isObject(v)) bad(`${param} must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`, param);
  if (v.type !== 'function') bad(`${param}.type must be "function" (allowed_tools and custom choices are not supported)`, `${param}.type`, 'unsupported_value');
  onlyKeys(v, FUNCTION_TOOL_KEYS, param);
  const f = v.function;
  if (!isObject(f)) bad(`${param}.function must be an object`, `${param}.function`);
  onlyKeys(f, new Set(['name']), `${param}.function`);
  const name = toolName(f.name, `${param}.function.name`);
  if (!tools?.some((t) => t.function.name === name)) bad(`${param} names ${name}, which is not one of tools`, `${param}.function.name`);
  return { type: 'function', function: { name } };
}

const JSON_SCHEMA_KEYS = new Set(['name', 'description', 'schema', 'strict']);

/** OpenAI's `response_format`: text, json_object or json_schema. */
export function parseResponseFormat(v: unknown, size: RequestSize): ResponseFormat | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad('response_format must be an object', 'response_format');
  if (v.type === 'text' || v.type === 'json_object') {
    onlyKeys(v, new Set(['type']), 'response_format');
    return { type: v.type };
  }
  if (v.type !== 'json_schema') bad('response_format.type must be text, json_object or json_schema', 'response_format.type');
  onlyKeys(v, new Set(['type', 'json_schema']), 'response_format');
  const js = v.json_schema;
  if (!isObject(js)) bad('response_format.json_schema must be an object', 'response_format.json_schema');
  onlyKeys(js, JSON_SCHEMA_KEYS, 'response_format.json_schema');
  const name = toolName(js.name, 'response_format.json_schema.name');
  size.add(name);
  const out: Extract<ResponseFormat, { type: 'json_schema' }>['json_schema'] = { name, ...describedSchema(js, 'response_format.json_schema', 'schema', size) };
  return { type: 'json_schema', json_schema: out };
}

/** `metadata`: up to 16 string pairs (OpenAI's limits: keys ≤ 64 characters, values ≤ 512). */
export function parseMetadata(v: unknown, size: RequestSize, param = 'metadata'): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad(`${param} must be an object of strings`, param);
  const entries = Object.entries(v);
  if (entries.length > 16) bad(`${param} may have at most 16 keys`, param);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (k.length > 64) bad(`${param} keys must be at most 64 characters`, param);
    if (typeof val !== 'string' || val.length > 512) bad(`${param}.${k} must be a string of at most 512 characters`, `${param}.${k}`);
    out[k] = val;
    size.add(k);
    size.add(val);
  }
  return out;
}
