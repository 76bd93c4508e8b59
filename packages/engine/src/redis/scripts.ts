import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * Lua scripts live as files in packages/engine/lua (each documents its KEYS and ARGV); this
 * module registers them on a connection. src/redis and dist/redis are at the same depth, so
 * the same relative path serves the tests (run from src) and the build.
 */
function load(name: string): string {
  return readFileSync(new URL(`../../lua/${name}.lua`, import.meta.url), 'utf8');
}

const SCRIPTS = {
  tcAppend: { numberOfKeys: 2, lua: load('append') },
  tcClaim: { numberOfKeys: 1, lua: load('claim') },
  tcCancel: { numberOfKeys: 1, lua: load('cancel') },
} as const;

export interface ScriptedRedis extends Redis {
  tcAppend(events: string, meta: string, ...args: (string | number)[]): Promise<number>;
  tcClaim(meta: string, producer: string, now: number): Promise<number>;
  tcCancel(meta: string, now: number): Promise<number>;
}

export function withScripts(client: Redis): ScriptedRedis {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  return client as ScriptedRedis;
}
