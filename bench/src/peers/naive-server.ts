import { createServer } from 'node:http';
import { fieldsToEvent, Keys } from '@tokencast/engine';
import { Redis } from 'ioredis';
import { EVENTS_PATH, SSE_HEADERS } from '../wire.js';

/**
 * `naive`: the SSE server a person writes by hand on top of tokencast's Redis streams. Every
 * client gets its own Redis connection and its own XREAD BLOCK loop from the start of the
 * generation's stream, and every event is encoded (JSON.stringify) for every client.
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const keys = new Keys('tc');

type XReadReply = [string, [string, string[]][]][] | null;

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  const m = EVENTS_PATH.exec(req.url ?? '');
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  const id = m[1] as string;
  const key = keys.events(id);
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  let closed = false;
  res.on('close', () => {
    closed = true;
    redis.disconnect();
  });
  const created = Math.floor(Date.now() / 1000);
  const loop = async () => {
    let last = '0-0';
    while (!closed) {
      const reply = (await redis.xread('BLOCK', 5000, 'STREAMS', key, last)) as XReadReply;
      if (!reply) continue;
      for (const [entryId, fields] of reply[0]?.[1] ?? []) {
        last = entryId;
        const offset = entryId.split('-')[0]; // tokencast's ids are <offset>-<fence>
        // tokencast's own decoder of an entry's fields (its storage format, docs/PROTOCOL.md)
        const ev = fieldsToEvent(Number(offset), fields);
        if (ev?.kind === 'token') {
          const delta = offset === '1' ? { role: 'assistant', content: ev.text } : { content: ev.text };
          const chunk = { id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created, model: 'mock', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] };
          res.write(`id: ${offset}\ndata: ${JSON.stringify(chunk)}\n\n`);
        } else if (ev?.kind === 'end') {
          const chunk = {
            id: `chatcmpl-${id}`,
            object: 'chat.completion.chunk',
            created,
            model: 'mock',
            choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: ev.finishReason }],
          };
          res.end(`id: ${offset}\ndata: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
          return;
        }
      }
    }
  };
  loop().catch(() => res.destroy());
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
