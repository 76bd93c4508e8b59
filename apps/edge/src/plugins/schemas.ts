import { InvalidRequestError } from '@tokencast/protocol';
import type { FastifyPluginAsync, FastifySchemaValidationError, FastifyTypeProvider, RawServerDefault } from 'fastify';

/**
 * Route schemas: every route declares its params, query and body as JSON Schema, Fastify
 * validates them before the handler runs, and the handler's `req.params` / `req.query` /
 * `req.body` take their TypeScript types from the same schema (the type provider below), so no
 * request data is cast. A failed validation is the API's usual 400 (see validationError).
 *
 * Fastify's Ajv runs with coerceTypes 'array': a query parameter given twice is an array, which
 * a `type: 'string'` refuses (a repeated parameter is a 400 naming it, never "the first one").
 */

/**
 * Two annotations a schema may carry, read when that schema fails (they validate nothing):
 * `errorCode`: the error `code` of the 400 (default: invalid_value, missing_required_parameter
 * for a missing property, unknown_parameter for one not allowed);
 * `errorMessage`: its message (default: the parameter's name and what it must be).
 * Hand-written checks elsewhere say the same thing in the same words, so an answer does not
 * depend on which of the two caught it.
 */
export function schemaKeywords<A extends { addKeyword(keyword: string): unknown }>(ajv: A): A {
  ajv.addKeyword('errorCode');
  ajv.addKeyword('errorMessage');
  return ajv;
}

/** Ajv options for the edge (Fastify option `ajv`): verbose, so an error names the schema that failed. */
export const ajvOptions = { customOptions: { verbose: true }, plugins: [schemaKeywords] };

/** `/messages/0/content` → `messages[0].content`, the way the API names parameters. */
function paramOf(path: string): string | null {
  const parts = path.split('/').slice(1);
  if (parts.length === 0) return null;
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * Fastify's `schemaErrorFormatter`: the first failure (allErrors is off) as an
 * InvalidRequestError, so every wire shape renders it like any other 400.
 * `context`: body, querystring, params or headers.
 */
export function validationError(errors: FastifySchemaValidationError[], context: string): Error {
  // With Ajv's verbose option each error also carries the schema it failed (parentSchema) and the value (data).
  const e: (FastifySchemaValidationError & { parentSchema?: Record<string, unknown>; data?: unknown }) | undefined = errors[0];
  if (!e) return new InvalidRequestError(`the request ${context} is not valid`);
  const missing = e.keyword === 'required' ? e.params.missingProperty : undefined;
  const extra = e.keyword === 'additionalProperties' ? e.params.additionalProperty : undefined;
  const path = e.instancePath + (typeof missing === 'string' ? `/${missing}` : typeof extra === 'string' ? `/${extra}` : '');
  const param = paramOf(path);
  // The annotations of the schema that failed; for a missing property, the property's own.
  const own = e.parentSchema ?? {};
  const annotated = typeof missing === 'string' ? (own.properties as Record<string, Record<string, unknown>> | undefined)?.[missing] : own;
  const code = typeof annotated?.errorCode === 'string' ? annotated.errorCode : missing ? 'missing_required_parameter' : extra ? 'unknown_parameter' : 'invalid_value';
  let message = typeof annotated?.errorMessage === 'string' ? annotated.errorMessage : null;
  if (message === null && context === 'querystring' && e.keyword === 'type' && Array.isArray(e.data)) message = `give the ${param} parameter once`;
  if (message === null) {
    const allowed = e.keyword === 'enum' && Array.isArray(e.params.allowedValues) ? `: ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` : '';
    message = `${param ?? `the request ${context}`} ${e.message ?? 'is not valid'}${allowed}`;
  }
  return new InvalidRequestError(message, code, { param });
}

// ---------------------------------------------------------------- types from schemas

/** The TypeScript type a schema validates to, for the subset of JSON Schema the routes use. */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'integer' | 'number' }
        ? number
        : S extends { type: 'object'; properties: infer P }
          ? ObjectOf<P, S extends { required: readonly (infer R)[] } ? R : never>
          : S extends { type: 'object' }
            ? Record<string, unknown>
            : unknown;

type ObjectOf<P, Required> = { [K in keyof P as K extends Required ? K : never]: FromSchema<P[K]> } & {
  [K in keyof P as K extends Required ? never : K]?: FromSchema<P[K]>;
};

/**
 * A Fastify type provider for the schemas above (`app.withTypeProvider<SchemaTypes>()`): the
 * request parts get the types their schemas declare. Schemas are written `as const`.
 */
export interface SchemaTypes extends FastifyTypeProvider {
  validator: FromSchema<this['schema']>;
  serializer: unknown;
}

/** A route plugin whose routes are typed by their schemas. */
export type RoutePlugin<Options extends Record<string, unknown> = Record<never, never>> = FastifyPluginAsync<Options, RawServerDefault, SchemaTypes>;

// ---------------------------------------------------------------- shared parts

/** `:id` of the generation and response routes; whether it names one is the handler's check (the same 404 for anything else). */
export const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

/** `*` of a wildcard route: the rest of the path. */
export const wildcardParams = { type: 'object', properties: { '*': { type: 'string' } }, required: ['*'] } as const;

/** An event offset in the query (?from, ?starting_after); parseOffset reads the value, with the same message for a bad one. */
export function offsetQueryParam<N extends string>(name: N) {
  return { type: 'string', errorCode: 'invalid_offset', errorMessage: `${name} must be a non-negative decimal event offset` } as const;
}

/** Last-Event-ID of a resuming viewer (Node joins a repeated one into one value, which parseOffset refuses). */
export const resumeHeaders = { type: 'object', properties: { 'last-event-id': { type: 'string' } } } as const;

/** ?token=: a read token on a read (Access.identify checks it; API keys there are refused with api_key_in_url). */
export const tokenQueryParam = { description: 'a read token (GET and HEAD only)' } as const;
