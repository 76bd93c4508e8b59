import { type EndEvent, type GenerationMeta, queuedMeta, type StoredEvent } from '@tokencast/protocol';
import { describe, expect, it } from 'vitest';
import { eventToFields, fieldsToEvent, hashToMeta, metaToHash } from '../src/index.js';
import { newMeta } from './conformance.js';

const usage = { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12, completion_tokens_details: { reasoning_tokens: 2 } };
const end = (offset: number, status: EndEvent['status'], parts?: number): EndEvent => ({
  offset,
  kind: 'end',
  status,
  finishReason: status === 'completed' ? 'tool_calls' : status === 'cancelled' ? 'cancelled' : 'error',
  usage,
  error: status === 'failed' ? { code: 'producer_lost', message: 'gone\r\nid: 99' } : null,
  ms: 40,
  timings: null,
  ...(parts === undefined ? {} : { parts }),
});

/** Every kind of event, with the optional fields set and left out. */
const events: StoredEvent[] = [
  { offset: 1, kind: 'reasoning', text: 'Let me', tokens: 2, ms: [5, 6], start: true },
  { offset: 2, kind: 'reasoning', text: '', tokens: 0, ms: [], signature: 'sig==' },
  { offset: 3, kind: 'token', text: 'Calling.', tokens: 1, ms: [7], part: 1, start: true, logprobs: [{ token: 'Calling.', logprob: -0.5, bytes: null, top_logprobs: [] }] },
  { offset: 4, kind: 'tool_call', part: 2, start: true, index: 0, callId: 'call_1', name: 'get_weather', ms: 8 },
  { offset: 5, kind: 'tool_args', part: 2, start: false, index: 0, args: '{"city":', tokens: 2, ms: [9, 9] },
  { offset: 6, kind: 'token', text: 'a\r\nb,c\u0000', tokens: 3, ms: [1, 2, 3] },
  { offset: 7, kind: 'refusal', text: 'no', tokens: 1, ms: [2], part: 4, start: true },
  { offset: 8, kind: 'reasoning', text: '', tokens: 0, ms: [], part: 1, start: true, redacted: 'opaque' },
  end(9, 'completed', 3),
  end(10, 'failed'),
  end(11, 'cancelled'),
];

describe('stream-field codec (events ⇄ Redis stream entry fields)', () => {
  it('round-trips every kind of event', () => {
    for (const ev of events) {
      const { offset, ...rest } = ev;
      expect(fieldsToEvent(offset, eventToFields(rest))).toEqual(ev);
    }
  });

  it('stores parts: 0 as absent', () => {
    const { offset, ...rest } = end(4, 'completed', 0);
    expect(fieldsToEvent(offset, eventToFields(rest))).toEqual({ ...end(4, 'completed'), parts: undefined });
  });

  it('ignores entries tokencast did not write', () => {
    expect(fieldsToEvent(1, ['k', 'z', 'd', 'x'])).toBeNull();
    expect(fieldsToEvent(1, ['x', 'y'])).toBeNull();
    expect(fieldsToEvent(1, ['z:1', 'y'])).toBeNull();
    expect(fieldsToEvent(1, ['t:1x', 'y'])).toBeNull();
    expect(fieldsToEvent(1, ['t', 'no colon'])).toBeNull();
    expect(fieldsToEvent(1, ['t', '1x:y'])).toBeNull();
    expect(fieldsToEvent(1, ['s', '1:y'])).toBeNull();
    expect(fieldsToEvent(1, [])).toBeNull();
  });

  it('stores a text token in 2 items under one field name (t "<ms>:<text>"), and a tool call readably', () => {
    expect(eventToFields({ kind: 'token', text: ' the', tokens: 1, ms: [120] })).toEqual(['t', '120: the']);
    expect(eventToFields({ kind: 'token', text: 'The', tokens: 1, ms: [99], start: true })).toEqual(['t', '99:The', 's', '1']);
    // The payload may hold colons: the ms end at the first one.
    expect(eventToFields({ kind: 'token', text: 'a:b:', tokens: 2, ms: [1, 2] })).toEqual(['t', '1,2:a:b:']);
    expect(fieldsToEvent(7, ['t', '1,2:a:b:'])).toEqual({ offset: 7, kind: 'token', text: 'a:b:', tokens: 2, ms: [1, 2] });
    // n only where the ms list does not say it (a signature carries no token; an odd upstream count)
    expect(eventToFields({ kind: 'reasoning', text: '', tokens: 0, ms: [], signature: 's' })).toEqual(['r', ':', 'sg', 's']);
    expect(eventToFields({ kind: 'token', text: 'ab', tokens: 3, ms: [5] })).toEqual(['t', '5:ab', 'n', '3']);
    const { offset: _o, ...call } = events[3] as StoredEvent;
    expect(eventToFields(call)).toEqual(['c', '8:get_weather', 'id', 'call_1', 'p', '2', 'i', '0']);
    const { offset: _p, ...args } = events[4] as StoredEvent;
    expect(eventToFields(args)).toEqual(['a', '9,9:{"city":', 'p', '2', 'i', '0']);
    const { offset: _e, ...ended } = end(9, 'completed', 3);
    expect(eventToFields(ended).slice(0, 2)).toEqual(['e', '40:completed']);
  });

  it("reads session 8's entries (<kind>:<ms> <payload>), as it read them", () => {
    expect(fieldsToEvent(3, ['t:120', ' the'])).toEqual({ offset: 3, kind: 'token', text: ' the', tokens: 1, ms: [120] });
    expect(fieldsToEvent(1, ['t:99', 'The', 's', '1'])).toEqual({ offset: 1, kind: 'token', text: 'The', tokens: 1, ms: [99], start: true });
    expect(fieldsToEvent(2, ['r:', '', 'sg', 'sig=='])).toEqual({ ...events[1], offset: 2 });
    expect(fieldsToEvent(4, ['c:8', 'get_weather', 'id', 'call_1', 'p', '2', 'i', '0'])).toEqual({ ...events[3], offset: 4 });
    expect(fieldsToEvent(5, ['a:9,9', '{"city":', 'p', '2', 'i', '0', 'n', '2'])).toEqual(events[4]);
    expect(fieldsToEvent(9, ['e:40', 'completed', 'f', 'tool_calls', 'u', JSON.stringify(usage), 'np', '3'])).toEqual(end(9, 'completed', 3));
  });

  it('reads the entries earlier releases wrote (k <kind> d <text> …), as they read them', () => {
    expect(fieldsToEvent(3, ['k', 't', 'd', ' the', 'n', '1', 'ms', '120'])).toEqual({ offset: 3, kind: 'token', text: ' the', tokens: 1, ms: [120] });
    expect(fieldsToEvent(1, ['k', 't', 'd', 'The', 'n', '1', 'ms', '99', 's', '1'])).toEqual({ offset: 1, kind: 'token', text: 'The', tokens: 1, ms: [99], start: true });
    expect(fieldsToEvent(2, ['k', 't', 'd', 'x'])).toEqual({ offset: 2, kind: 'token', text: 'x', tokens: 1, ms: [] });
    expect(fieldsToEvent(2, ['k', 'r', 'd', '', 'sg', 'z'])).toEqual({ offset: 2, kind: 'reasoning', text: '', tokens: 0, ms: [], signature: 'z' });
    expect(fieldsToEvent(4, ['k', 'c', 'p', '2', 'i', '0', 'id', 'call_1', 'nm', 'get_weather', 'ms', '8'])).toEqual({ ...events[3], offset: 4 });
    expect(fieldsToEvent(5, ['k', 'a', 'p', '2', 'i', '0', 'd', '{"city":', 'n', '2', 'ms', '9,9'])).toEqual(events[4]);
    const failed = end(10, 'failed');
    const legacyEnd = ['k', 'e', 's', 'failed', 'f', 'error', 'u', JSON.stringify(usage), 'ms', '40', 'c', 'producer_lost', 'm', 'gone\r\nid: 99'];
    expect(fieldsToEvent(10, legacyEnd)).toEqual(failed);
    expect(fieldsToEvent(9, ['k', 'e', 's', 'completed', 'f', 'tool_calls', 'u', JSON.stringify(usage), 'ms', '40', 'np', '3'])).toEqual(end(9, 'completed', 3));
  });
});

describe('meta codec (meta ⇄ Redis hash)', () => {
  it('round-trips a finished generation', () => {
    const { request } = newMeta();
    const meta: GenerationMeta = {
      ...queuedMeta('gen_abcdefghijklmnopqrstuvwxyz', request, 'k1', 1),
      status: 'completed',
      startedAt: 2,
      firstTokenAt: 3,
      completedAt: 4,
      cancelRequestedAt: 0,
      producer: 'p1',
      fence: 2,
      lastOffset: 9,
      tokens: 12,
      finishReason: 'stop',
      usage,
    };
    expect(hashToMeta(metaToHash(meta))).toEqual(meta);
    expect(hashToMeta({})).toBeNull();
  });
});
