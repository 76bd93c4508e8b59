import type { ParseArgsConfig } from 'node:util';
import { TokencastClient } from '@tokencast/client';
import { colorEnabled, makeStyle, type Style } from './format.js';

/**
 * What every command gets: where things are (flags over environment over defaults), how to print,
 * and a signal that aborts on Ctrl-C.
 */
export const EXIT = {
  ok: 0,
  /** The generation failed or was cancelled, or the server refused the request. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** No such generation (unknown, expired or malformed id). */
  notFound: 3,
  /** The edge or Redis could not be reached (after retries). */
  unreachable: 4,
  interrupted: 130,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export class NotFound extends Error {
  override readonly name = 'NotFound';
}

export class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS: Options = {
  url: { type: 'string' },
  redis: { type: 'string' },
  prefix: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  'no-color': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

export const GLOBAL_HELP = `Global options:
  --url URL        edge to talk to (env TOKENCAST_URL, default http://127.0.0.1:8080)
  --redis URL      Redis for ls, inspect and queue (env REDIS_URL)
  --prefix P       Redis key prefix (env TOKENCAST_KEY_PREFIX, default tc)
  --api-key KEY    sent as a Bearer token (env TOKENCAST_API_KEY)
  --json           machine-readable output on stdout
  --no-color       no colours (also NO_COLOR=1; colours only appear on a terminal anyway)
  -h, --help       this help`;

export type Values = Record<string, string | boolean | undefined>;

export interface Ctx {
  env: Record<string, string | undefined>;
  values: Values;
  positionals: string[];
  json: boolean;
  /** Styles for stdout and for stderr (each is a TTY or not on its own). */
  out: Style;
  err: Style;
  signal: AbortSignal;
  stdout(s: string): void;
  stderr(s: string): void;
  edgeUrl: string;
  redisUrl: string | null;
  /** Shown in printed commands instead of the URL: never echo a password to the screen. */
  redisUrlShown: string;
  prefix: string;
  client(): TokencastClient;
}

export function makeCtx(values: Values, positionals: string[], env: Record<string, string | undefined>, signal: AbortSignal): Ctx {
  const noColor = values['no-color'] === true;
  const redisFlag = typeof values.redis === 'string' ? values.redis : null;
  const redisUrl = redisFlag ?? (env.REDIS_URL || null);
  const apiKey = typeof values['api-key'] === 'string' ? values['api-key'] : env.TOKENCAST_API_KEY || undefined;
  const edgeUrl = (typeof values.url === 'string' ? values.url : env.TOKENCAST_URL) || 'http://127.0.0.1:8080';
  let client: TokencastClient | null = null;
  return {
    env,
    values,
    positionals,
    json: values.json === true,
    out: makeStyle(colorEnabled(process.stdout.isTTY === true, env, noColor)),
    err: makeStyle(colorEnabled(process.stderr.isTTY === true, env, noColor)),
    signal,
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    edgeUrl,
    redisUrl,
    redisUrlShown: redisFlag === null ? '"$REDIS_URL"' : redactUrl(redisFlag),
    prefix: (typeof values.prefix === 'string' ? values.prefix : env.TOKENCAST_KEY_PREFIX) || 'tc',
    client() {
      client ??= new TokencastClient(apiKey ? { baseUrl: edgeUrl, apiKey } : { baseUrl: edgeUrl });
      return client;
    },
  };
}

export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return raw;
  }
}

/** A non-negative integer option; UsageError otherwise. */
export function intOption(values: Values, name: string, fallback: number, min = 0): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** One JSON document per line on stdout. */
export function printJson(ctx: Ctx, value: unknown): void {
  ctx.stdout(`${JSON.stringify(value)}\n`);
}
