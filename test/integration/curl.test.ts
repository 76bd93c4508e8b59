import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mockText } from '@tokencast/producer';
import { parseChatRequest } from '@tokencast/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startEmbedded } from '../support/processes.js';
import { chunkText } from '../support/sse.js';

const run = promisify(execFile);

/** The README's curl examples, run with the real curl: tokens stream, and a resume replays the rest. */
describe('curl', () => {
  let edge: Proc;

  beforeAll(async () => {
    edge = await startEmbedded({ LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await edge?.kill();
  });

  /** Parse curl's SSE output: every event's id and the text of its data lines. */
  function parse(out: string): { ids: number[]; text: string; done: boolean } {
    const ids: number[] = [];
    let text = '';
    let done = false;
    for (const block of out.split('\n\n')) {
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) ids.push(Number(line.slice(4)));
        else if (line === 'data: [DONE]') done = true;
        else if (line.startsWith('data: ')) text += chunkText(line.slice(6));
      }
    }
    return { ids, text, done };
  }

  it('streams a chat completion, then resumes a generation after Last-Event-ID', async () => {
    const body = { model: 'mock', stream: true, max_tokens: 30, messages: [{ role: 'user', content: 'Tell me about streams' }] };
    const reference = mockText(parseChatRequest(body, { maxTokensCap: 1e6, maxPromptChars: 1e6 })).text;
    const { stdout } = await run('curl', ['-sN', '-D', '-', `${edge.url}/v1/chat/completions`, '-H', 'content-type: application/json', '-d', JSON.stringify(body)]);
    const [head = '', ...rest] = stdout.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head.toLowerCase()).toContain('content-type: text/event-stream');
    const id = /x-generation-id: (gen_[a-z2-7]+)/i.exec(head)?.[1];
    expect(id).toBeTruthy();
    const full = parse(rest.join('\r\n\r\n'));
    expect(full.text).toBe(reference);
    expect(full.done).toBe(true);

    const { stdout: resumed } = await run('curl', ['-sN', `${edge.url}/v1/generations/${id}/events`, '-H', 'Last-Event-ID: 10']);
    const tail = parse(resumed);
    expect(tail.ids[0]).toBe(11);
    expect(tail.ids).toEqual(Array.from({ length: tail.ids.length }, (_, i) => i + 11));
    expect(reference.endsWith(tail.text)).toBe(true);
    expect(tail.done).toBe(true);
  });
});
