import { ConfigError } from '@tokencast/engine';

/**
 * Every setting of every process is declared once, here or in its app's config.ts, with one of
 * the builders below: the variable's name, its type and unit, its default, what 0 or empty means,
 * and one line of why. `readOptions` turns a set of declarations into a typed object at start-up
 * (nothing reads the environment later); `configTable` renders the same declarations as
 * README.md's configuration table (`npm run docs:config`; a test fails when they differ).
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Option<T> {
  /** The environment variable. */
  readonly env: string;
  /** For the docs: "integer", "boolean", "list", … and the unit ("ms", "bytes", …) if any. */
  readonly type: string;
  /** For the docs (markdown): the default as a user would write it (in backticks), or what happens when unset. */
  readonly shown: string;
  /** One line: what it does and why one would change it. */
  readonly why: string;
  /** What 0 or empty means, when it means something other than "that number" or "none". */
  readonly zero?: string;
  /** Throws ConfigError naming the variable for a bad value. */
  parse(env: Env): T;
}

export type OptionSet = Readonly<Record<string, Option<unknown>>>;
/** The typed object a set of declarations reads into. */
export type Options<S extends OptionSet> = { -readonly [K in keyof S]: S[K] extends Option<infer T> ? T : never };

interface Doc {
  why: string;
  zero?: string;
}

/** Unset and empty are the same ("use the default"), except where a declaration says otherwise. */
function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

const code = (s: string) => `\`${s}\``;

function bad(name: string, what: string, v: string): ConfigError {
  return new ConfigError(`${name} must be ${what}, got ${JSON.stringify(v)}`);
}

export function int(name: string, o: Doc & { default: number; min?: number; max?: number; unit?: string }): Option<number> {
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  return numeric(name, o, 'integer', (n) => Number.isInteger(n) && n >= min && n <= max, `an integer between ${min} and ${max}`);
}

export function num(name: string, o: Doc & { default: number; min: number; unit?: string }): Option<number> {
  return numeric(name, o, 'number', (n) => Number.isFinite(n) && n >= o.min, `a number ≥ ${o.min}`);
}

/** int and num: `ok` accepts a parsed value, `what` names the accepted values in the error. */
function numeric(name: string, o: Doc & { default: number; unit?: string }, kind: string, ok: (n: number) => boolean, what: string): Option<number> {
  return {
    env: name,
    type: o.unit ? `${kind}, ${o.unit}` : kind,
    shown: code(String(o.default)),
    why: o.why,
    ...(o.zero ? { zero: o.zero } : {}),
    parse(env) {
      const v = raw(env, name);
      if (v === undefined) return o.default;
      const n = Number(v);
      if (!ok(n)) throw bad(name, what, v);
      return n;
    },
  };
}

/** The one boolean parser: true / 1 / yes and false / 0 / no, any case. */
export function parseBool(name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw bad(name, 'true or false (or 1/0, yes/no)', v);
}

export function bool(name: string, o: Doc & { default: boolean }): Option<boolean> {
  return {
    env: name,
    type: 'boolean',
    shown: code(String(o.default)),
    why: o.why,
    parse(env) {
      const v = raw(env, name);
      return v === undefined ? o.default : parseBool(name, v);
    },
  };
}

/** A string; `check` returns what is wrong with a value (null: fine). */
export function str(name: string, o: Doc & { default: string; shown?: string; check?: (v: string) => string | null }): Option<string> {
  return {
    env: name,
    type: 'string',
    shown: o.shown ?? (o.default === '' ? 'unset' : code(o.default)),
    why: o.why,
    ...(o.zero ? { zero: o.zero } : {}),
    parse(env) {
      const v = raw(env, name) ?? o.default;
      const wrong = v === '' || !o.check ? null : o.check(v);
      if (wrong) throw bad(name, wrong, v);
      return v;
    },
  };
}

/** A string whose absence means something (a feature off): null when unset or empty. */
export function optional(name: string, o: Doc & { type?: string; check?: (v: string) => string | null }): Option<string | null> {
  return {
    env: name,
    type: o.type ?? 'string',
    shown: 'unset',
    why: o.why,
    ...(o.zero ? { zero: o.zero } : {}),
    parse(env) {
      const v = raw(env, name);
      if (v === undefined) return null;
      const wrong = o.check?.(v) ?? null;
      if (wrong) throw bad(name, wrong, v);
      return v;
    },
  };
}

export function oneOf<const T extends string>(name: string, values: readonly T[], o: Doc & { default: T }): Option<T> {
  return {
    env: name,
    type: values.map((v) => `\`${v}\``).join(' \\| '),
    shown: code(o.default),
    why: o.why,
    parse(env) {
      const v = raw(env, name);
      if (v === undefined) return o.default;
      if (!(values as readonly string[]).includes(v)) throw bad(name, `one of ${values.join(', ')}`, v);
      return v as T;
    },
  };
}

/**
 * A comma-separated list (items trimmed, empty items dropped). `default` applies only when the
 * variable is unset: set to the empty string, the list is empty (MOCK_MODELS="" serves no mock).
 */
export function list(name: string, o: Doc & { default?: readonly string[]; item?: { pattern: RegExp; what: string } }): Option<string[]> {
  return {
    env: name,
    type: 'list',
    shown: o.default?.length ? code(o.default.join(',')) : 'unset',
    why: o.why,
    ...(o.zero ? { zero: o.zero } : {}),
    parse(env) {
      const v = env[name];
      if (v === undefined) return [...(o.default ?? [])];
      const items = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const item of items) if (o.item && !o.item.pattern.test(item)) throw bad(name, `a list of ${o.item.what}`, item);
      return [...new Set(items)];
    },
  };
}

/** Anything else: the declaration says how it reads. */
export function custom<T>(name: string, o: Doc & { type: string; shown: string; parse: (v: string | undefined) => T }): Option<T> {
  return { env: name, type: o.type, shown: o.shown, why: o.why, ...(o.zero ? { zero: o.zero } : {}), parse: (env) => o.parse(raw(env, name)) };
}

/** Reads every declaration of a set; the first bad value throws ConfigError naming its variable. */
export function readOptions<S extends OptionSet>(set: S, env: Env): Options<S> {
  const out: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(set)) out[key] = option.parse(env);
  return out as Options<S>;
}

export interface ConfigSection {
  /** Heading of the README subsection, e.g. "Edge". */
  title: string;
  /** Which processes read it, one line. */
  readBy: string;
  options: OptionSet;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** README.md's configuration table, from the declarations (one table per section). */
export function configTable(sections: readonly ConfigSection[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of sections) {
    out.push(`### ${s.title}`, '', s.readBy, '', '| variable | type | default | what |', '| --- | --- | --- | --- |');
    for (const o of Object.values(s.options)) {
      if (seen.has(o.env)) throw new Error(`${o.env} is declared twice`);
      seen.add(o.env);
      const what = o.zero ? `${o.why}. ${o.zero}` : o.why;
      out.push(`| \`${o.env}\` | ${o.type.includes('`') ? o.type : cell(o.type)} | ${cell(o.shown)} | ${cell(what)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
