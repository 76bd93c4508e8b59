import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * The Open Responses compliance checks, run with ajv: every streaming event against the union of
 * the document's event schemas, and Response objects against ResponseResource (see
 * test/fixtures/openresponses/README.md for where the schemas come from).
 */
const doc = JSON.parse(readFileSync(new URL('../fixtures/openresponses/schemas.json', import.meta.url), 'utf8')) as Record<string, unknown>;
// strict:false: the OpenAPI document's own keywords (discriminator, x-…) are annotations here.
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(doc, 'openresponses');
const eventSchema: ValidateFunction = ajv.compile({ $ref: 'openresponses#/x-streaming-events' });
const resourceSchema: ValidateFunction = ajv.compile({ $ref: 'openresponses#/components/schemas/ResponseResource' });
const itemSchema: ValidateFunction = ajv.compile({ $ref: 'openresponses#/components/schemas/ItemField' });

function check(v: ValidateFunction, value: unknown): string[] {
  if (v(value)) return [];
  return (v.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Schema errors of one streaming event's data (empty when it conforms). */
export function eventErrors(event: unknown): string[] {
  return check(eventSchema, event);
}

/** Schema errors of a Response object (empty when it conforms). */
export function resourceErrors(response: unknown): string[] {
  return check(resourceSchema, response);
}

/** Schema errors of one item (an input item as GET /v1/responses/:id/input_items lists it; empty when it conforms). */
export function itemErrors(item: unknown): string[] {
  return check(itemSchema, item);
}
