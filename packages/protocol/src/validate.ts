import { InvalidRequestError } from './errors.js';

/**
 * Small validation helpers shared by the request parsers (OpenAI chat, Anthropic messages,
 * Responses). Every refusal is an InvalidRequestError naming the field at fault.
 */

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function bad(message: string, param: string | null, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, code, { param });
}

/**
 * Refuses any field of `obj` not in `allowed` whose value is not null: tokencast never drops
 * what a caller sent without saying so (a null is the same as leaving the field out).
 * `unsupported` names fields that exist in the API but that tokencast cannot carry, for a clearer message.
 */
export function onlyKeys(obj: Record<string, unknown>, allowed: ReadonlySet<string>, param: string | null, unsupported: Readonly<Record<string, string>> = {}): void {
  for (const [k, v] of Object.entries(obj)) {
    if (allowed.has(k) || v === null || v === undefined) continue;
    const at = param ? `${param}.${k}` : k;
    const why = unsupported[k];
    if (why) bad(`${at} is not supported: ${why}`, at, 'unsupported_parameter');
    bad(`unrecognized request argument: ${at}`, at, 'unknown_parameter');
  }
}

export function optString(v: unknown, param: string, max = Number.POSITIVE_INFINITY): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(`${param} must be a string`, param);
  if (v.length > max) bad(`${param} must be at most ${max} characters`, param);
  return v;
}

export function optBoolean(v: unknown, param: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`${param} must be a boolean`, param);
  return v;
}

/** Function and schema names as OpenAI accepts them (Anthropic's tool names are the same set). */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export function toolName(v: unknown, param: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) bad(`${param} must be 1-64 letters, digits, underscores or dashes`, param);
  return v;
}

/** Deepest nesting accepted in a caller's JSON schema or tool input: a bound for every recursive walk after it. */
export const MAX_JSON_DEPTH = 64;

/**
 * Checks a caller's JSON value (a tool schema, a tool input) for depth without recursion, so
 * a hostile 100 000-deep object fails here with a 400 instead of overflowing the stack later in
 * JSON.stringify. Returns its JSON text, whose length counts toward the prompt size.
 */
export function boundedJson(v: unknown, param: string): string {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop() as [unknown, number];
    if (typeof x !== 'object' || x === null) continue;
    if (depth > MAX_JSON_DEPTH) bad(`${param} is nested too deeply (more than ${MAX_JSON_DEPTH} levels)`, param);
    for (const child of Array.isArray(x) ? x : Object.values(x)) stack.push([child, depth + 1]);
  }
  return JSON.stringify(v) ?? '';
}

export function jsonSchemaObject(v: unknown, param: string): Record<string, unknown> {
  if (!isObject(v)) bad(`${param} must be a JSON Schema object`, param);
  return v;
}

/** Running total of what a request counts toward MAX_PROMPT_CHARS and the media cap. */
export class RequestSize {
  chars = 0;
  mediaBytes = 0;
  add(s: string | undefined): void {
    if (s) this.chars += s.length;
  }
}
