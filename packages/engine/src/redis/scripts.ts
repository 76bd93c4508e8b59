import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * The one loader of every Lua script in packages/engine/lua (each file's header documents its
 * KEYS, ARGV and reply). As in BullMQ's src/commands, a file's name carries its key count:
 * `claim-2.lua` takes two keys; a name without a count (`append.lua`) takes a variable number,
 * passed as the command's first argument. A file becomes the command `tc` + its name in
 * PascalCase (`durable-fork-source-3.lua` → `tcDurableForkSource`), defined on a connection by
 * withScripts(). src/redis and dist/redis are at the same depth, so the same relative path
 * serves the tests (run from src) and the build.
 */
const DIR = new URL('../../lua/', import.meta.url);

interface ScriptDef {
  lua: string;
  /** undefined: the caller passes the key count first. */
  numberOfKeys?: number;
}

function commandName(base: string): string {
  return `tc${base
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}`;
}

function loadAll(): Map<string, ScriptDef> {
  const out = new Map<string, ScriptDef>();
  for (const file of readdirSync(DIR)) {
    const m = /^([a-z][a-z-]*?)(?:-(\d+))?\.lua$/.exec(file);
    if (!m) continue;
    const def: ScriptDef = { lua: readFileSync(new URL(file, DIR), 'utf8') };
    if (m[2] !== undefined) def.numberOfKeys = Number(m[2]);
    out.set(commandName(m[1] as string), def);
  }
  return out;
}

const SCRIPTS = loadAll();

export type ScriptArg = string | number | Buffer;
export type ScriptReply = Buffer | number | null | ScriptReply[];
type Arg = ScriptArg;
type Reply = ScriptReply;

/** A connection with every script defined. Each takes its keys first, then its ARGV. */
export interface ScriptedRedis extends Redis {
  /** append.lua: numkeys (2 per generation), keys, then per generation its items (see the file). */
  tcAppend(numKeys: number, ...keysAndArgs: Arg[]): Promise<number[]>;
  tcClaim(
    meta: string,
    events: string,
    producer: string,
    now: number,
    ttlSeconds: number,
    bell: string,
    idJson: string,
  ): Promise<number | [fence: number, newest: number, hash: string[]]>;
  tcCancel(meta: string, now: number): Promise<number>;
  tcDurableCreateBuffer(...args: Arg[]): Promise<Reply[]>;
  tcDurableReadBuffer(...args: Arg[]): Promise<Reply[]>;
  tcDurableAppend(...args: Arg[]): Promise<(string | number)[]>;
  tcDurableForkSourceBuffer(...args: Arg[]): Promise<Reply[]>;
  tcDurableDelete(...args: Arg[]): Promise<string[]>;
  tcDurableRelease(...args: Arg[]): Promise<string[]>;
  tcDurableQuotaReserve(...args: Arg[]): Promise<[string, string | number, string[]?]>;
  tcDurableQuotaFinish(...args: Arg[]): Promise<string>;
  tcDurableQuotaSettle(...args: Arg[]): Promise<string>;
}

/** Defines every script on the connection (once: later calls are no-ops) and returns it typed. */
export function withScripts(client: Redis): ScriptedRedis {
  const c = client as ScriptedRedis & { [DEFINED]?: true };
  if (!c[DEFINED]) {
    for (const [name, def] of SCRIPTS) client.defineCommand(name, def);
    c[DEFINED] = true;
  }
  return c;
}

const DEFINED = Symbol('tokencast scripts defined');
