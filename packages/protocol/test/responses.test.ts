import { describe, expect, it } from 'vitest';
import { eventErrors, resourceErrors } from '../../../test/support/openresponses.js';
import {
  type EndEvent,
  type GenerationRequest,
  generationIdOfResponse,
  InvalidRequestError,
  parseResponsesRequest,
  type ResponsesContext,
  ResponsesEncoder,
  responseIdOf,
  responseObject,
  type StoredEvent,
} from '../src/index.js';

const limits = { maxTokensCap: 1000, maxPromptChars: 10_000 };
const GEN = 'gen_abcdefghijklmnopqrstuvwxyz';

function rejection(body: unknown): InvalidRequestError {
  try {
    parseResponsesRequest(body, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return err as InvalidRequestError;
  }
  throw new Error('expected the request to be rejected');
}

describe('parseResponsesRequest', () => {
  it('takes a string input as one user message', () => {
    const req = parseResponsesRequest({ model: 'mock', input: 'hello', instructions: 'be brief', max_output_tokens: 20, stream: true }, limits);
    expect(req).toMatchObject({ kind: 'chat', api: 'responses', model: 'mock', maxTokens: 20, stream: true, includeUsage: true });
    expect(req.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello' },
    ]);
    expect(req.responses).toEqual({ instructions: 'be brief', previousResponseId: null, store: true, background: false, truncation: 'disabled', include: [] });
  });

  it('maps items, tools and options into the normalised request', () => {
    const req = parseResponsesRequest(
      {
        model: 'mock',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is the weather in ' },
              { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' },
            ],
          },
          { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'think' }], encrypted_content: 'sig' },
          { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is 21.' }] },
        ],
        tools: [{ type: 'function', name: 'get_weather', description: 'weather', parameters: { type: 'object' }, strict: true }],
        tool_choice: { type: 'function', name: 'get_weather' },
        parallel_tool_calls: false,
        text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' }, strict: true } },
        reasoning: { effort: 'low', summary: 'auto' },
        metadata: { user: 'ann' },
        temperature: 0.2,
        include: ['reasoning.encrypted_content'],
        background: true,
      },
      limits,
    );
    expect(req.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is the weather in ' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
        ],
      },
      {
        role: 'assistant',
        content: '',
        reasoning: { text: 'think', signature: 'sig' },
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', content: '{"temp":21}', tool_call_id: 'call_1' },
      { role: 'assistant', content: 'It is 21.' },
    ]);
    expect(req.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object' }, strict: true } }]);
    expect(req.toolChoice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(req.parallelToolCalls).toBe(false);
    expect(req.responseFormat).toEqual({ type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' }, strict: true } });
    expect(req.reasoning).toEqual({ effort: 'low', summary: 'auto' });
    expect(req.metadata).toEqual({ user: 'ann' });
    expect(req.params).toEqual({ temperature: 0.2 });
    expect(req.responses?.background).toBe(true);
  });

  it('refuses what it cannot carry, naming the field', () => {
    expect(rejection({ model: 'mock', input: 'x', conversation: 'c' }).param).toBe('conversation');
    expect(rejection({ model: 'mock', input: 'x', tools: [{ type: 'web_search' }] }).param).toBe('tools[0].type');
    expect(rejection({ model: 'mock', input: [{ type: 'item_reference', id: 'msg_1' }] }).param).toBe('input[0].type');
    expect(rejection({ model: 'mock', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }).param).toBe('input[0].content[0].type');
    expect(rejection({ model: 'mock', input: 'x', text: { format: { type: 'json_object' }, verbosity: 'low' } }).param).toBe('text.verbosity');
    expect(rejection({ model: 'mock', input: 'x', max_tool_calls: 2 }).param).toBe('max_tool_calls');
    expect(rejection({ model: 'mock', input: 'x', background: true, store: false }).param).toBe('store');
    expect(rejection({ model: 'mock', input: 'x', tool_choice: { type: 'allowed_tools', tools: [] } }).param).toBe('tool_choice');
    expect(rejection({ model: 'mock', input: 'x', max_output_tokens: 5000 }).code).toBe('max_tokens_exceeded');
    expect(rejection({ model: 'mock' }).code).toBe('missing_required_parameter');
    expect(rejection({ model: 'mock', input: 'x', previous_response_id: 'resp_x' }).param).toBe('previous_response_id');
    // Hostile input: a schema nested past the bound, an image past the media cap, a named tool that is not given.
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) deep = { a: deep };
    expect(rejection({ model: 'mock', input: 'x', tools: [{ type: 'function', name: 'f', parameters: deep }] }).param).toBe('tools[0].parameters');
    const big = `data:image/png;base64,${'A'.repeat(2_000_000)}`;
    expect(rejection({ model: 'mock', input: [{ role: 'user', content: [{ type: 'input_image', image_url: big }] }] }).code).toBe('media_too_large');
    expect(rejection({ model: 'mock', input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'function', name: 'g' } }).param).toBe('tool_choice.name');
    expect(rejection({ model: 'mock', input: 'y'.repeat(20_000) }).code).toBe('context_length_exceeded');
  });

  it('maps response ids to generation ids and back', () => {
    expect(responseIdOf(GEN)).toBe('resp_abcdefghijklmnopqrstuvwxyz');
    expect(generationIdOfResponse(responseIdOf(GEN))).toBe(GEN);
    expect(generationIdOfResponse(GEN)).toBe(GEN);
    expect(generationIdOfResponse('resp_../../x')).toBeNull();
  });
});

const request: GenerationRequest = parseResponsesRequest(
  { model: 'mock-reasoning', input: 'weather?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }], tool_choice: 'required' },
  limits,
);
const ctx: ResponsesContext = { id: GEN, model: 'mock-reasoning', createdAtMs: 1_700_000_000_000, request };

/** Reasoning (with a signature), text, then a tool call whose arguments come in three pieces. */
function toolCallEvents(end: Partial<EndEvent> = {}): StoredEvent[] {
  return [
    { offset: 1, kind: 'reasoning', part: 0, start: true, text: 'Let me think. ', tokens: 3, ms: [1, 2, 3] },
    { offset: 2, kind: 'reasoning', part: 0, text: 'The weather tool.', tokens: 3, ms: [4, 5, 6] },
    { offset: 3, kind: 'reasoning', part: 0, text: '', signature: 'sig-1', tokens: 0, ms: [] },
    { offset: 4, kind: 'token', part: 1, start: true, text: 'Checking ', tokens: 1, ms: [7] },
    { offset: 5, kind: 'token', part: 1, text: 'now.', tokens: 1, ms: [8] },
    { offset: 6, kind: 'tool_call', part: 2, start: true, index: 0, callId: 'call_1', name: 'get_weather', ms: 9 },
    { offset: 7, kind: 'tool_args', part: 2, start: false, index: 0, args: '{"city":', tokens: 2, ms: [10, 11] },
    { offset: 8, kind: 'tool_args', part: 2, start: false, index: 0, args: '"Pa', tokens: 1, ms: [12] },
    { offset: 9, kind: 'tool_args', part: 2, start: false, index: 0, args: 'ris"}', tokens: 1, ms: [13] },
    {
      offset: 10,
      kind: 'end',
      status: 'completed',
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17, completion_tokens_details: { reasoning_tokens: 6 } },
      error: null,
      ms: 20,
      parts: 3,
      ...end,
    },
  ];
}

interface Frame {
  id: number;
  event: string;
  data: Record<string, unknown> & { type: string; sequence_number: number };
}

function parseFrames(sse: string): Frame[] {
  return sse
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const f: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf(': ');
        f[line.slice(0, i)] = line.slice(i + 2);
      }
      return { id: Number(f.id), event: f.event as string, data: JSON.parse(f.data as string) };
    });
}

function stream(events: StoredEvent[], startingAfter = -1): Frame[] {
  const enc = new ResponsesEncoder(ctx, startingAfter);
  return parseFrames(enc.preamble() + events.map((e) => enc.encode(e)).join(''));
}

describe('ResponsesEncoder', () => {
  it('streams reasoning, text and a tool call as Responses events that match the Open Responses schemas', () => {
    const frames = stream(toolCallEvents());
    expect(frames.map((f) => f.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    // The validator does reject: an event without its item id, an unknown event type.
    expect(eventErrors({ type: 'response.output_text.delta', sequence_number: 3, output_index: 0, content_index: 0, delta: 'x' })).not.toEqual([]);
    expect(eventErrors({ type: 'response.reasoning_text.delta', sequence_number: 3, item_id: 'x', output_index: 0, content_index: 0, delta: 'x' })).not.toEqual([]);
    for (const f of frames) {
      expect(f.data.type).toBe(f.event);
      expect(f.data.sequence_number).toBe(f.id);
      expect(eventErrors(f.data), f.event).toEqual([]);
    }
    const seqs = frames.map((f) => f.id);
    expect(seqs.slice(0, 2)).toEqual([0, 1]);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
    const args = frames.filter((f) => f.event === 'response.function_call_arguments.done')[0]?.data;
    expect(args).toMatchObject({ item_id: 'fc_abcdefghijklmnopqrstuvwxyz_2', output_index: 2, name: 'get_weather', arguments: '{"city":"Paris"}' });
    const done = frames[frames.length - 1]?.data.response as Record<string, unknown>;
    expect(resourceErrors(done)).toEqual([]);
    expect(done).toMatchObject({
      id: 'resp_abcdefghijklmnopqrstuvwxyz',
      status: 'completed',
      tool_choice: 'required',
      usage: { input_tokens: 5, output_tokens: 12, total_tokens: 17, output_tokens_details: { reasoning_tokens: 6 }, input_tokens_details: { cached_tokens: 0 } },
      output: [
        { type: 'reasoning', id: 'rs_abcdefghijklmnopqrstuvwxyz_0', summary: [{ type: 'summary_text', text: 'Let me think. The weather tool.' }], encrypted_content: 'sig-1' },
        { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Checking now.', annotations: [] }] },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      ],
    });
    // GET /v1/responses/:id folds the same events into the same object.
    expect(responseObject(ctx, 'completed', toolCallEvents())).toEqual(done);
  });

  it('starting_after=N gives exactly the frames after N, for every N', () => {
    const events = toolCallEvents();
    const full = stream(events);
    const last = full[full.length - 1]?.id as number;
    for (let n = -1; n <= last; n++) {
      expect(
        stream(events, n).map((f) => f.id),
        `starting_after=${n}`,
      ).toEqual(full.filter((f) => f.id > n).map((f) => f.id));
    }
    // In the middle of the arguments: the rest of them, then the ends.
    const mid = full.find((f) => f.event === 'response.function_call_arguments.delta')?.id as number;
    const rest = stream(events, mid);
    expect(rest.filter((f) => f.event === 'response.function_call_arguments.delta').map((f) => f.data.delta)).toEqual(['"Pa', 'ris"}']);
    expect(rest.map((f) => f.event).slice(-3)).toEqual(['response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);
  });

  it('an encoder that folded events 1..k encodes k+1.. exactly as one that encoded them all', () => {
    const events = toolCallEvents();
    for (let k = 0; k < events.length; k++) {
      const all = new ResponsesEncoder(ctx);
      const folded = new ResponsesEncoder(ctx);
      all.preamble();
      folded.preamble();
      for (const ev of events.slice(0, k)) all.encode(ev);
      folded.fold(events.slice(0, k));
      for (const ev of events.slice(k)) expect(folded.encode(ev), `after folding ${k}`).toBe(all.encode(ev));
    }
  });

  it('ends as incomplete (max_output_tokens), failed, or cancelled', () => {
    const text: StoredEvent[] = [{ offset: 1, kind: 'token', text: 'Hel', tokens: 1, ms: [1] }];
    const end = (e: Partial<EndEvent>): StoredEvent => ({
      offset: 2,
      kind: 'end',
      status: 'completed',
      finishReason: 'stop',
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      error: null,
      ms: 5,
      parts: 1,
      ...e,
    });
    const cases: [Partial<EndEvent>, string, Record<string, unknown>][] = [
      [{ finishReason: 'length' }, 'response.incomplete', { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }],
      [
        { status: 'failed', finishReason: 'error', error: { code: 'upstream_error', message: 'boom' } },
        'response.failed',
        { status: 'failed', error: { code: 'upstream_error', message: 'boom' } },
      ],
      [{ status: 'cancelled', finishReason: 'cancelled' }, 'response.incomplete', { status: 'cancelled', incomplete_details: { reason: 'cancelled' } }],
    ];
    for (const [e, type, shape] of cases) {
      const frames = stream([...text, end(e)]);
      const last = frames[frames.length - 1] as Frame;
      expect(last.event).toBe(type);
      expect(last.data.response).toMatchObject(shape);
      for (const f of frames) expect(eventErrors(f.data), f.event).toEqual([]);
      expect(resourceErrors(last.data.response)).toEqual([]);
    }
  });

  it('a plain-text generation of the chat API is one message item', () => {
    const chat: ResponsesContext = { ...ctx, request: { ...request, api: 'openai', tools: undefined, toolChoice: undefined, responses: undefined } };
    const evs: StoredEvent[] = [
      { offset: 1, kind: 'token', text: 'Hi', tokens: 1, ms: [1] },
      { offset: 2, kind: 'token', text: ' there', tokens: 1, ms: [2] },
    ];
    const snap = responseObject(chat, 'running', evs);
    expect(snap).toMatchObject({ status: 'in_progress', usage: null, output: [{ type: 'message', status: 'in_progress', content: [] }] });
    expect(resourceErrors(snap)).toEqual([]);
  });
});
