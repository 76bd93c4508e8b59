import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { digestAdd, FNV_SEED, nowUs, tokenText } from '../clock.js';
import { pace, type Schedule } from '../pacer.js';
import { benchContext, EVENTS_PATH, endEvent, SSE_HEADERS, sseFrame, tokenEvent } from '../wire.js';

/**
 * `limit`: the ceiling for Node on this machine. No Redis and no framework: the tokens are made
 * here, each batch is encoded once, and the same Buffer is written to every socket (ignoring
 * backpressure, as the bare minimum does). Controlled by the harness over /ctl/*.
 */
interface Gen {
  subs: Set<ServerResponse>;
  /** Everything, once the generation is complete (late joiners get it in one write). */
  full: Buffer | null;
  offset: number;
}

const gens = new Map<string, Gen>();

function gen(id: string): Gen {
  let g = gens.get(id);
  if (!g) gens.set(id, (g = { subs: new Set(), full: null, offset: 0 }));
  return g;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let s = '';
  for await (const chunk of req) s += chunk;
  return JSON.parse(s) as Record<string, unknown>;
}

function framesFor(id: string, g: Gen, n: number, text: string): Buffer {
  const ctx = benchContext(id);
  let s = '';
  for (let i = 0; i < n; i++) s += sseFrame(ctx, tokenEvent(++g.offset, text));
  return Buffer.from(s);
}

async function control(path: string, b: Record<string, unknown>): Promise<unknown> {
  if (path === '/ctl/prepare') {
    for (const id of b.gens as string[]) gen(id);
    return {};
  }
  if (path === '/ctl/run') {
    const ids = b.gens as string[];
    const sched = b.sched as Schedule;
    const tokens = sched.tokens;
    const list = ids.map(gen);
    return pace(ids, sched, {
      send: (i, n, us) => {
        const g = list[i] as Gen;
        const buf = framesFor(ids[i] as string, g, n, tokenText(us));
        for (const res of g.subs) res.write(buf);
        return undefined;
      },
      finish: (i) => {
        const g = list[i] as Gen;
        const buf = Buffer.from(sseFrame(benchContext(ids[i] as string), endEvent(g.offset + 1, tokens)));
        for (const res of g.subs) res.end(buf);
        g.subs.clear();
        gens.delete(ids[i] as string);
        return undefined;
      },
    });
  }
  if (path === '/ctl/bulk') {
    const id = b.gen as string;
    const tokens = b.tokens as number;
    const g = gen(id);
    let digest = FNV_SEED;
    const parts: Buffer[] = [];
    for (let i = 0; i < tokens; i++) {
      const us = nowUs();
      digest = digestAdd(digest, us);
      parts.push(framesFor(id, g, 1, tokenText(us)));
    }
    parts.push(Buffer.from(sseFrame(benchContext(id), endEvent(g.offset + 1, tokens))));
    g.full = Buffer.concat(parts);
    return { digest };
  }
  throw new Error(`unknown ${path}`);
}

const server = createServer((req, res) => {
  const url = req.url ?? '';
  if (url === '/healthz') {
    res.end('ok');
    return;
  }
  if (req.method === 'POST' && url.startsWith('/ctl/')) {
    body(req)
      .then((b) => control(url, b))
      .then(
        (out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    return;
  }
  const m = EVENTS_PATH.exec(url);
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  const g = gen(m[1] as string);
  res.writeHead(200, SSE_HEADERS);
  if (g.full) {
    res.end(g.full);
    return;
  }
  res.flushHeaders();
  g.subs.add(res);
  res.on('close', () => g.subs.delete(res));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
