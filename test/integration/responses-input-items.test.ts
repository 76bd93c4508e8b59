import OpenAI from 'openai';
import type { ResponseItem } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyedEdge, startKeyedEdge } from '../support/keyed-openai.js';
import { itemErrors } from '../support/openresponses.js';

/**
 * GET /v1/responses/{id}/input_items through the official openai SDK
 * (`client.responses.inputItems.list`) against a real edge (embedded) on a real redis-server:
 * the conversation a response was given, as items with ids, newest first by default, paged with
 * after / limit, each item checked against the Open Responses ItemField schema. With API keys on,
 * another key gets the same 404 as an unknown id.
 */
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
let t: KeyedEdge;
let edge: KeyedEdge['edge'];
let alice: OpenAI;
let bob: OpenAI;
let ALICE: string;

beforeAll(async () => {
  t = await startKeyedEdge('inputitems');
  ({ edge, alice, bob, aliceKey: ALICE } = t);
});

afterAll(async () => {
  await t?.stop();
});

/** Every item of a response, through the SDK's auto-pagination. */
async function all(id: string, query: OpenAI.Responses.InputItemListParams = {}): Promise<ResponseItem[]> {
  const out: ResponseItem[] = [];
  for await (const item of alice.responses.inputItems.list(id, query)) out.push(item);
  return out;
}

/** An item without its id, for comparing with what was sent. */
const bare = (items: readonly ResponseItem[]) => items.map(({ id: _, ...rest }) => rest);

const INPUT = [
  { type: 'message', role: 'developer', content: 'Answer in French.' },
  {
    type: 'message',
    role: 'user',
    content: [
      { type: 'input_text', text: 'Weather where this was taken?' },
      { type: 'input_image', image_url: PNG, detail: 'low' },
    ],
  },
  { type: 'reasoning', id: 'rs_prev', summary: [{ type: 'summary_text', text: 'Locate first.' }], encrypted_content: 'enc-1' },
  { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Locating.', annotations: [] }] },
  { type: 'function_call', call_id: 'call_1', name: 'locate', arguments: '{"photo":1}' },
  { type: 'function_call_output', call_id: 'call_1', output: 'Paris' },
  { type: 'message', role: 'user', content: 'And tomorrow? [mock:len=5]' },
] as const;

/** INPUT as the list shows it (oldest first), ids aside. */
const LISTED = [
  { type: 'message', role: 'developer', status: 'completed', content: [{ type: 'input_text', text: 'Answer in French.' }] },
  {
    type: 'message',
    role: 'user',
    status: 'completed',
    content: [
      { type: 'input_text', text: 'Weather where this was taken?' },
      { type: 'input_image', image_url: PNG, detail: 'low' },
    ],
  },
  { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Locate first.' }], encrypted_content: 'enc-1' },
  { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Locating.', annotations: [] }] },
  { type: 'function_call', call_id: 'call_1', name: 'locate', arguments: '{"photo":1}', status: 'completed' },
  { type: 'function_call_output', call_id: 'call_1', output: 'Paris', status: 'completed' },
  { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'And tomorrow? [mock:len=5]' }] },
];

describe('OpenAI SDK: responses.inputItems.list', () => {
  it('lists the input items as sent (instructions aside), each with its own id, newest first by default; order=asc oldest first', async () => {
    const res = await alice.responses.create({ model: 'mock', instructions: 'Be brief.', input: INPUT as unknown as OpenAI.Responses.ResponseInput });
    expect(res.status).toBe('completed');

    const page = await alice.responses.inputItems.list(res.id);
    expect(page.data).toHaveLength(LISTED.length);
    expect(page.has_more).toBe(false);
    expect(bare(page.data)).toEqual([...LISTED].reverse());

    const asc = await alice.responses.inputItems.list(res.id, { order: 'asc' });
    expect(bare(asc.data)).toEqual(LISTED);
    const ids = asc.data.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^(msg|rs|fc|fco)_[a-z2-7]{26}_in\d+$/);
    // No input item id is an output item id.
    expect(ids).not.toContain(res.output[0]?.id);
    for (const item of asc.data) expect(itemErrors(item), JSON.stringify(item)).toEqual([]);
    // The wire body carries the list fields the SDK reads and those it does not.
    const raw = await fetch(`${edge.url}/v1/responses/${res.id}/input_items?order=asc`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(raw.headers.get('x-generation-id')).toBe(`gen_${res.id.slice(5)}`);
    const body = (await raw.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ object: 'list', first_id: ids[0], last_id: ids[ids.length - 1], has_more: false });
  });

  it('pages with limit and after (the SDK follows has_more), in either order; include is accepted', async () => {
    const res = await alice.responses.create({ model: 'mock', input: INPUT as unknown as OpenAI.Responses.ResponseInput });
    const asc = await all(res.id, { order: 'asc' });
    expect(bare(asc)).toEqual(LISTED);

    const first = await alice.responses.inputItems.list(res.id, { limit: 3, order: 'asc' });
    expect(first.data.map((i) => i.id)).toEqual(asc.slice(0, 3).map((i) => i.id));
    expect(first.has_more).toBe(true);
    const second = await alice.responses.inputItems.list(res.id, { limit: 3, order: 'asc', after: first.data[2]?.id });
    expect(second.data.map((i) => i.id)).toEqual(asc.slice(3, 6).map((i) => i.id));
    expect(second.has_more).toBe(true);
    const last = await alice.responses.inputItems.list(res.id, { limit: 3, order: 'asc', after: second.data[2]?.id });
    expect(last.data.map((i) => i.id)).toEqual(asc.slice(6).map((i) => i.id));
    expect(last.has_more).toBe(false);

    // Auto-pagination one item at a time, newest first, gives the whole list reversed.
    expect((await all(res.id, { limit: 1 })).map((i) => i.id)).toEqual(asc.map((i) => i.id).reverse());
    expect((await all(res.id, { limit: 100, include: ['message.input_image.image_url', 'reasoning.encrypted_content'] })).length).toBe(asc.length);
  });

  it('a response built on previous_response_id lists the earlier conversation and its output, then the new input', async () => {
    const one = await alice.responses.create({ model: 'mock', instructions: 'Not carried over.', input: 'My name is Ada. [mock:len=4]' });
    const two = await alice.responses.create({ model: 'mock', input: 'What is my name? [mock:len=4]', previous_response_id: one.id });
    const items = await all(two.id, { order: 'asc' });
    expect(bare(items)).toEqual([
      { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'My name is Ada. [mock:len=4]' }] },
      { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: one.output_text, annotations: [] }] },
      { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'What is my name? [mock:len=4]' }] },
    ]);
  });

  it('404 for an unknown id, another key, a store:false response; 400 for a bad limit, order or cursor', async () => {
    const mine = await alice.responses.create({ model: 'mock', input: 'Private [mock:len=4]' });
    await expect(alice.responses.inputItems.list('resp_aaaaaaaaaaaaaaaaaaaaaaaaaa')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(alice.responses.inputItems.list('nonsense')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const other = await bob.responses.inputItems.list(mine.id).catch((e: unknown) => e);
    const unknown = await bob.responses.inputItems.list('resp_aaaaaaaaaaaaaaaaaaaaaaaaaa').catch((e: unknown) => e);
    expect(other).toBeInstanceOf(OpenAI.NotFoundError);
    // The same answer as for an id that does not exist: nothing tells that it does.
    expect((other as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual((unknown as InstanceType<typeof OpenAI.NotFoundError>).error);
    const unstored = await alice.responses.create({ model: 'mock', input: 'Forget me [mock:len=4]', store: false });
    await expect(alice.responses.inputItems.list(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    for (const [query, param] of [
      [{ limit: 0 }, 'limit'],
      [{ limit: 101 }, 'limit'],
      [{ order: 'sideways' }, 'order'],
      [{ after: 'msg_nope' }, 'after'],
    ] as const) {
      const err = await alice.responses.inputItems.list(mine.id, query as OpenAI.Responses.InputItemListParams).catch((e: unknown) => e);
      expect(err, JSON.stringify(query)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
    }
    expect((await alice.responses.inputItems.list(mine.id)).data).toHaveLength(1);
  });
});
