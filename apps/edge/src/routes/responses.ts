import { setTimeout as sleep } from 'node:timers/promises';
import {
  accumulateParts,
  type ChatMessage,
  type GenerationMeta,
  generationIdOfResponse,
  InvalidRequestError,
  isObject,
  isTerminalStatus,
  NotFoundError,
  type PreviousTurn,
  parseOffset,
  parseResponsesRequest,
  type RequestLimits,
  responseIdOf,
  responseInputItems,
  responseObject,
  responsesContext,
} from '@tokencast/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/access.js';
import { idParams, offsetQueryParam, type RoutePlugin, resumeHeaders, tokenQueryParam } from '../plugins/schemas.js';
import { cancelGeneration, collectResponse, generationNotFound, type StreamDeps, streamSse, visibleGeneration } from '../stream.js';
import { accept, objectBody, type SubmitDeps } from './completions.js';

/** Most events read to build a Response object or a previous turn (a generation's whole log, in practice). */
const EVENTS_LIMIT = 100_000;
/** How long POST /v1/responses/:id/cancel waits for the cancelled end before answering, ms. */
const CANCEL_WAIT_MS = 3_000;

/** The generation behind a :id path parameter (resp_… or gen_…); the same 404 for anything else. */
function idParam(raw: string): string {
  const id = generationIdOfResponse(raw);
  if (!id) throw responseNotFound();
  return id;
}

function responseNotFound(): NotFoundError {
  return new NotFoundError('No response with that id', 'response_not_found', { param: 'response_id' });
}

/** A generation created with store:false is not retrievable as a Response (it is still streamed). */
function stored(meta: GenerationMeta): boolean {
  return meta.request.responses?.store !== false;
}

/** A generation's 404 becomes a response's: the same answer for an unknown, forbidden or malformed id. */
function asResponse<T>(p: Promise<T>): Promise<T> {
  return p.catch((err) => {
    throw err instanceof NotFoundError ? responseNotFound() : err;
  });
}

/** The stored Response of generation `id` if the caller may see it (a response's 404 otherwise), its id set on the reply. */
async function storedResponse(req: FastifyRequest, reply: FastifyReply, deps: StreamDeps, id: string): Promise<{ principal: Principal; meta: GenerationMeta }> {
  const seen = await asResponse(visibleGeneration(req, deps, id));
  if (!stored(seen.meta)) throw responseNotFound();
  reply.header('x-generation-id', id);
  return seen;
}

/** The conversation a previous response continues: its request's messages, then its output. */
async function previousTurn(deps: SubmitDeps, principal: Principal, raw: string): Promise<PreviousTurn> {
  const notFound = () => new NotFoundError(`Previous response with id '${raw}' not found.`, 'previous_response_not_found', { param: 'previous_response_id' });
  const id = generationIdOfResponse(raw);
  if (!id) throw notFound();
  const meta = await deps.store.getMeta(id);
  if (!meta || !deps.access.canWatch(principal, meta) || !stored(meta)) throw notFound();
  if (!isTerminalStatus(meta.status))
    throw new InvalidRequestError(`Previous response '${raw}' is still ${meta.status}: wait for it to end`, 'previous_response_in_progress', { param: 'previous_response_id' });
  const events = await deps.store.readEvents(id, 0, EVENTS_LIMIT);
  const messages = [...meta.request.messages];
  // Its own instructions are not carried over; everything else in its conversation is.
  if (meta.request.responses?.instructions != null && messages[0]?.role === 'system') messages.shift();
  const turn: ChatMessage = { role: 'assistant', content: '' };
  let text = '';
  for (const p of accumulateParts(events)) {
    if (p.type === 'text' || p.type === 'refusal') text += p.text;
    else if (p.type === 'reasoning') turn.reasoning ??= { text: p.text, ...(p.signature !== undefined ? { signature: p.signature } : {}) };
    else (turn.tool_calls ??= []).push({ id: p.callId, type: 'function', function: { name: p.name, arguments: p.arguments } });
  }
  turn.content = text;
  if (text !== '' || turn.tool_calls || turn.reasoning) messages.push(turn);
  return { messages };
}

/** Most item references one request may name (each may read a generation's log). */
const MAX_REFERENCES = 256;
/** Item ids this edge hands out: <kind>_<the generation's 26 characters>_<part>. */
const ITEM_ID = /^(msg|fc|rs)_([a-z2-7]{26})_(\d{1,6})$/;

/**
 * Input items of type item_reference → the items they name, as input items: the AI SDK sends
 * earlier output as references when `store` is on (its default). Only ids this edge handed out
 * resolve, and only for a caller who may see that generation; anything else is a 404 naming it.
 */
async function resolveReferences(deps: SubmitDeps, principal: Principal, input: readonly unknown[]): Promise<unknown[]> {
  const refs = input.filter((it) => isObject(it) && it.type === 'item_reference').length;
  if (refs === 0) return [...input];
  if (refs > MAX_REFERENCES) throw new InvalidRequestError(`at most ${MAX_REFERENCES} item references in one request`, 'invalid_value', { param: 'input' });
  const parts = new Map<string, ReturnType<typeof accumulateParts>>();
  const out: unknown[] = [];
  for (const [i, item] of input.entries()) {
    if (!isObject(item) || item.type !== 'item_reference') {
      out.push(item);
      continue;
    }
    const it = item;
    const notFound = () => new NotFoundError(`Item with id '${String(it.id)}' not found.`, 'item_not_found', { param: `input[${i}].id` });
    const m = typeof it.id === 'string' ? ITEM_ID.exec(it.id) : null;
    if (!m) throw notFound();
    const gen = `gen_${m[2]}`;
    let genParts = parts.get(gen);
    if (!genParts) {
      const meta = await deps.store.getMeta(gen);
      if (!meta || !deps.access.canWatch(principal, meta) || !stored(meta)) throw notFound();
      genParts = accumulateParts(await deps.store.readEvents(gen, 0, EVENTS_LIMIT));
      parts.set(gen, genParts);
    }
    const p = genParts.find((x) => x.part === Number(m[3]));
    const kind = m[1];
    if (!p) throw notFound();
    if (kind === 'fc' && p.type === 'tool_call') out.push({ type: 'function_call', call_id: p.callId, name: p.name, arguments: p.arguments });
    else if (kind === 'rs' && p.type === 'reasoning')
      out.push({ type: 'reasoning', summary: [{ type: 'summary_text', text: p.text }], ...(p.signature !== undefined ? { encrypted_content: p.signature } : {}) });
    else if (kind === 'msg' && p.type === 'text') out.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: p.text }] });
    else if (kind === 'msg' && p.type === 'refusal') out.push({ type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: p.text }] });
    else throw notFound();
  }
  return out;
}

/** An optional boolean query flag: "true" or "false" only (Ajv turns them into booleans). */
const flag = <N extends string>(name: N) => ({ type: 'boolean', errorMessage: `${name} must be true or false` }) as const;

/** GET /v1/responses/:id?stream&starting_after&include_obfuscation&token */
const retrieveQuery = {
  type: 'object',
  properties: {
    stream: flag('stream'),
    starting_after: offsetQueryParam('starting_after'),
    // Obfuscation padding is never added here; the flag is accepted so SDK calls stay valid.
    include_obfuscation: flag('include_obfuscation'),
    token: tokenQueryParam,
  },
} as const;

/** What `include` may name (OpenAI's ResponseIncludable): input items always carry image URLs and encrypted reasoning, and the rest name item kinds never stored here. */
const INCLUDABLE = [
  'message.input_image.image_url',
  'reasoning.encrypted_content',
  'message.output_text.logprobs',
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
] as const;
const includeParam = { type: 'array', items: { enum: INCLUDABLE }, errorMessage: `include must name ${INCLUDABLE.join(', ')}` } as const;

/** GET /v1/responses/:id/input_items?after&before&limit&order&include&token (the openai SDK sends include[]=…). */
const inputItemsQuery = {
  type: 'object',
  properties: {
    after: { type: 'string' },
    before: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 100, errorMessage: 'limit must be an integer from 1 to 100' },
    order: { enum: ['asc', 'desc'], errorMessage: 'order must be asc or desc' },
    include: includeParam,
    'include[]': includeParam,
    token: tokenQueryParam,
  },
} as const;

/**
 * One page of a list in OpenAI's cursor shape. `after` / `before`: an id of `items` the page
 * starts after / ends before (a 400 naming the parameter when it is none of them); with `before`
 * the page is the `limit` items nearest to it, and has_more says whether more precede them.
 */
function page(items: readonly Record<string, unknown>[], q: { after?: string; before?: string; limit?: number }): Record<string, unknown> {
  const limit = q.limit ?? 20;
  let list = items;
  const position = (id: string, param: 'after' | 'before') => {
    const i = list.findIndex((it) => it.id === id);
    if (i < 0) throw new InvalidRequestError(`${param} names no input item of this response`, 'invalid_value', { param });
    return i;
  };
  if (q.after !== undefined) list = list.slice(position(q.after, 'after') + 1);
  let data: readonly Record<string, unknown>[];
  if (q.before !== undefined) {
    list = list.slice(0, position(q.before, 'before'));
    data = list.slice(Math.max(0, list.length - limit));
  } else data = list.slice(0, limit);
  return {
    object: 'list',
    data,
    // null: the page is empty.
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: list.length > data.length,
  };
}

/** The sequence number a resuming Responses client has seen: ?starting_after, or Last-Event-ID; -1 when none. */
export function startingAfter(raw: string | undefined, lastEventId: string | undefined): number {
  if (raw !== undefined) return parseOffset(raw, 'starting_after');
  if (lastEventId !== undefined) return parseOffset(lastEventId, 'Last-Event-ID');
  return -1;
}

/**
 * The OpenAI Responses API (and the Open Responses specification) over the same generations:
 * create (streaming, waiting, or in the background), retrieve (as it stands, or as a stream
 * resumed after any sequence_number), cancel and delete. A Response id is `resp_` + the
 * generation id's random part; the generation id itself is accepted wherever a Response id is.
 */
const responsesRoutes: RoutePlugin = async (app) => {
  const parse = async (body: unknown, limits: RequestLimits, principal: Principal) => {
    if (!isObject(body)) return parseResponsesRequest(body, limits);
    const b = body;
    const previous = typeof b.previous_response_id === 'string' ? await previousTurn(app, principal, b.previous_response_id) : null;
    const input = Array.isArray(b.input) ? await resolveReferences(app, principal, b.input) : b.input;
    return parseResponsesRequest({ ...b, input }, limits, previous);
  };

  app.post('/v1/responses', { schema: { body: objectBody } }, async (req, reply) => {
    // A background response that is not streamed needs no stream slot: nobody waits on it.
    const watches = !(req.body.background === true && req.body.stream !== true);
    const { principal, request, meta, slot } = await accept(req, app, parse, watches);
    reply.header('x-generation-id', meta.id);
    if (request.stream) return streamSse(req, reply, app, principal, meta.id, 0, null, 'responses', null, -1, slot);
    if (request.responses?.background) return responseObject(responsesContext(meta), meta.status, []);
    return collectResponse(req, reply, app, principal, meta.id, 'responses', slot);
  });

  app.get('/v1/responses/:id', { schema: { params: idParams, querystring: retrieveQuery, headers: resumeHeaders } }, async (req, reply) => {
    const id = idParam(req.params.id);
    const stream = req.query.stream === true;
    const after = startingAfter(req.query.starting_after, req.headers['last-event-id']);
    const { principal, meta } = await storedResponse(req, reply, app, id);
    if (stream) return streamSse(req, reply, app, principal, id, 0, null, 'responses', null, after);
    const events = await app.store.readEvents(id, 0, EVENTS_LIMIT);
    return responseObject(responsesContext(meta), meta.status, events);
  });

  // The conversation the response was given (its stored request), as input items: newest first
  // unless order=asc, 20 a page unless limit says (1–100). Who may read it: as GET /v1/responses/:id.
  app.get('/v1/responses/:id/input_items', { schema: { params: idParams, querystring: inputItemsQuery } }, async (req, reply) => {
    const id = idParam(req.params.id);
    const { meta } = await storedResponse(req, reply, app, id);
    const items = responseInputItems(responsesContext(meta));
    if (req.query.order !== 'asc') items.reverse();
    return page(items, req.query);
  });

  app.post('/v1/responses/:id/cancel', { schema: { params: idParams } }, async (req, reply) => {
    const id = idParam(req.params.id);
    await asResponse(cancelGeneration(req, app, id));
    // The producer ends the generation within milliseconds: answer with its cancelled state.
    let meta = await app.store.getMeta(id);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (meta && !isTerminalStatus(meta.status) && Date.now() < deadline) {
      await sleep(25);
      meta = await app.store.getMeta(id);
    }
    if (!meta) throw responseNotFound();
    reply.header('x-generation-id', id);
    const events = await app.store.readEvents(id, 0, EVENTS_LIMIT);
    return responseObject(responsesContext(meta), meta.status, events);
  });

  app.delete('/v1/responses/:id', { schema: { params: idParams } }, async (req, reply) => {
    const id = idParam(req.params.id);
    await asResponse(cancelGeneration(req, app, id));
    // Cancelled first (a running model stops), then forgotten: viewers still attached are ended
    // by their edge's liveness check, and the id answers 404 from now on.
    if (!(await app.store.delete(id))) throw generationNotFound();
    req.log.info({ gen: id }, 'response deleted');
    reply.header('x-generation-id', id);
    return { id: responseIdOf(id), object: 'response', deleted: true };
  });
};

export default responsesRoutes;
