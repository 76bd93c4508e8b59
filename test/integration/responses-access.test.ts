import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyedEdge, startKeyedEdge } from '../support/keyed-openai.js';

/**
 * The Responses routes with API keys on: a response is its creator's. Another key gets the same
 * 404 as for an unknown id on every route that reads or changes it, including the two that read
 * earlier output on the caller's behalf (previous_response_id, item_reference).
 */
let t: KeyedEdge;
let edge: KeyedEdge['edge'];
let alice: OpenAI;
let bob: OpenAI;

beforeAll(async () => {
  t = await startKeyedEdge('respacc');
  ({ edge, alice, bob } = t);
});

afterAll(async () => {
  await t?.stop();
});

describe('Responses API with API keys', () => {
  it('another key cannot see, resume, cancel, delete or build on a response; its creator can', async () => {
    const mine = await alice.responses.create({ model: 'mock', input: 'Private [mock:len=20]' });
    const msg = mine.output.find((o) => o.type === 'message');
    if (msg?.type !== 'message') throw new Error('expected a message');

    await expect(bob.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.responses.retrieve(mine.id, { stream: true })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.responses.cancel(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.responses.delete(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.responses.create({ model: 'mock', input: 'x', previous_response_id: mine.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.responses.create({ model: 'mock', input: [{ type: 'item_reference', id: msg.id }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const anon = await fetch(`${edge.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock', input: 'x' }) });
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ error: { type: 'authentication_error' } });

    expect((await alice.responses.retrieve(mine.id)).output_text).toBe(mine.output_text);
    const next = await alice.responses.create({
      model: 'mock',
      input: [
        { type: 'item_reference', id: msg.id },
        { role: 'user', content: 'More' },
      ],
      previous_response_id: mine.id,
    });
    expect(next.status).toBe('completed');
    await alice.responses.delete(mine.id);
    await expect(alice.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
