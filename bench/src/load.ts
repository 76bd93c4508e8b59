import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Socket as IoSocket } from 'socket.io-client';
import { MarkerScanner, nowUs, tokenText } from './clock.js';
import { Histogram, type HistPairs } from './hist.js';
import { type Request, serve } from './ipc.js';

/**
 * A load generator: its own process, holding many clients of one system under test. Clients
 * count the token markers they receive and measure latency (clock.ts); a few "verifying" clients
 * also keep everything and parse it properly (SSE frames, JSON chunks, offsets), to show the
 * counting clients count the real thing.
 */
export interface OpenRequest {
  transport: 'sse' | 'socketio';
  /** Base URL of the server under test. */
  url: string;
  /** Client i watches gens[i % gens.length]. */
  gens: string[];
  count: number;
  /** Index of this process's first client overall (spreads clients over gens and source addresses). */
  first: number;
  /** Tokens per generation; a client is complete once it has them all (0: never, idle clients). */
  expected: number;
  /** Clients that stop reading right after the response headers. */
  stalled: number;
  /** Markers at the start of every stream whose latency is not recorded (a warm-up burst). */
  skipLatency: number;
  /** How many clients also parse and check everything they receive. */
  verify: number;
  /** Connects in flight at once (the server's accept backlog is finite). */
  concurrency: number;
  /** Open keep-alive connections now, send the requests only on `go` (late joiners). */
  deferred: boolean;
}

export interface LoadResult {
  clients: number;
  opened: number;
  failed: number;
  /** Clients whose connection is still open. */
  openNow: number;
  complete: number;
  delivered: number;
  minCount: number;
  maxCount: number;
  /** `${gen} ${count} ${digest}` → clients that saw exactly that (stalled clients left out). */
  texts: Record<string, number>;
  hist: HistPairs;
  /** Clock (µs) of the newest marker any client received. */
  lastAtUs: number;
  /** Per complete client: clock (µs) when it had everything. */
  completeAtUs: number[];
  verified: number;
  verifyErrors: string[];
  errors: string[];
}

interface Client {
  transport: 'sse' | 'socketio';
  /** Tokens it should get (0: idle). */
  expected: number;
  gen: string;
  stalled: boolean;
  scanner: MarkerScanner;
  opened: boolean;
  failed: boolean;
  ended: boolean;
  done: boolean;
  completeAtUs: number;
  /** Verifying clients: everything received, and the timestamps in order. */
  raw: string[] | null;
  stamps: number[] | null;
  close(): void;
}

const hist = new Histogram();
let clients: Client[] = [];
let pendingGo: (() => void)[] = [];
let doneCount = 0;
let waitingFor = 0;
const errors: string[] = [];

function noteError(e: unknown): void {
  if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
}

let emit: (event: string, data?: unknown) => void = () => {};

function markDone(c: Client): void {
  if (c.done || c.stalled) return;
  c.done = true;
  c.completeAtUs = c.scanner.lastAtUs || nowUs();
  if (++doneCount === waitingFor) emit('complete');
}

function sourceAddress(i: number): string {
  // Many sources so that 20 000 connections to one port never run out of ephemeral ports.
  return `127.0.0.${2 + (i % 16)}`;
}

function newClient(o: OpenRequest, i: number): Client {
  const verifying = i < o.verify;
  const stamps = verifying ? [] : null;
  const scanner = new MarkerScanner(hist, stamps);
  scanner.skipLatency = o.skipLatency;
  return {
    transport: o.transport,
    expected: o.expected,
    gen: o.gens[(o.first + i) % o.gens.length] as string,
    stalled: i >= o.count - o.stalled,
    scanner,
    opened: false,
    failed: false,
    ended: false,
    done: false,
    completeAtUs: 0,
    raw: verifying ? [] : null,
    stamps,
    close: () => {},
  };
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (!called) {
      called = true;
      fn();
    }
  };
}

/**
 * An SSE client on a bare TCP socket: the request is written by hand and the response bytes
 * are scanned as they come (the chunked-encoding lines between writes never split a marker,
 * since every write holds whole events). Node's HTTP client would cost more than many servers
 * under test; the verifying clients use it instead, to parse everything properly.
 */
function openSse(o: OpenRequest, i: number, onSettled: () => void): Client {
  const c = newClient(o, i);
  if (c.raw) return openVerifyingSse(o, c, i, onSettled);
  const u = new URL(o.url);
  const settle = once(onSettled);
  const sock = connect({ host: u.hostname, port: Number(u.port), localAddress: sourceAddress(o.first + i) });
  sock.setNoDelay(true);
  c.close = () => sock.destroy();
  const request = `GET /v1/generations/${c.gen}/events HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`;
  let head: Buffer | null = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    const at = nowUs();
    let body = chunk;
    if (head) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, 13).toString('latin1').startsWith('HTTP/1.1 200')) {
        c.failed = true;
        noteError(head.subarray(0, head.indexOf('\r\n')).toString('latin1'));
        sock.destroy();
        settle();
        return;
      }
      c.opened = true;
      if (!o.deferred) settle();
      body = head.subarray(end + 4);
      head = null;
      if (c.stalled) {
        // Stop reading: the server's writes fill the socket buffers, and then it must stop.
        sock.pause();
        return;
      }
    }
    if (body.length === 0) return;
    c.scanner.feed(body, at);
    if (o.expected > 0 && c.scanner.count >= o.expected) markDone(c);
  });
  sock.on('connect', () => {
    if (o.deferred) {
      pendingGo.push(() => sock.write(request));
      settle();
    } else sock.write(request);
  });
  sock.on('error', (e) => {
    if (!c.opened) {
      c.failed = true;
      noteError(e);
    }
    settle();
  });
  sock.on('close', () => {
    c.ended = true;
    if (c.opened) markDone(c);
    settle();
  });
  return c;
}

/** A verifying SSE client: Node's HTTP client, keeping every byte for verifySse(). */
function openVerifyingSse(o: OpenRequest, c: Client, i: number, onSettled: () => void): Client {
  const u = new URL(o.url);
  const settle = once(onSettled);
  let req: ClientRequest | null = null;
  let res: IncomingMessage | null = null;
  c.close = () => {
    res?.destroy();
    req?.destroy();
  };
  const send = () => {
    req = request({
      host: u.hostname,
      port: Number(u.port),
      path: `/v1/generations/${c.gen}/events`,
      headers: { accept: 'text/event-stream' },
      agent: false,
      localAddress: sourceAddress(o.first + i),
    });
    req.on('response', (r) => {
      res = r;
      if (r.statusCode !== 200) {
        c.failed = true;
        noteError(`HTTP ${r.statusCode}`);
        r.resume();
        settle();
        return;
      }
      c.opened = true;
      settle();
      if (c.stalled) {
        r.pause();
        (r.socket as Socket).pause();
        return;
      }
      r.on('data', (chunk: Buffer) => {
        c.scanner.feed(chunk, nowUs());
        c.raw?.push(chunk.toString('utf8'));
        if (o.expected > 0 && c.scanner.count >= o.expected) markDone(c);
      });
      r.on('error', () => {});
      r.on('close', () => {
        c.ended = true;
        markDone(c);
      });
    });
    req.on('error', (e) => {
      if (!c.opened) {
        c.failed = true;
        noteError(e);
        settle();
      }
      c.ended = true;
      if (c.opened) markDone(c);
    });
    req.end();
  };
  if (o.deferred) {
    pendingGo.push(send);
    settle();
  } else send();
  return c;
}

function openSocketIo(o: OpenRequest, i: number, onSettled: () => void): Client {
  const c = newClient(o, i);
  const gen = c.gen;
  let settled = false;
  const settle = () => {
    if (!settled) {
      settled = true;
      onSettled();
    }
  };
  const s: IoSocket = (ioClient as NonNullable<typeof ioClient>)(o.url, { transports: ['websocket'], query: { gen }, forceNew: true, reconnection: false, timeout: 60_000 });
  c.close = () => s.close();
  s.on('connect', () => {
    c.opened = true;
    settle();
    if (c.stalled) {
      // socket.io has no pause: stop reading the WebSocket's TCP socket underneath.
      const transport = (s.io as unknown as { engine?: { transport?: { ws?: { _socket?: Socket } } } }).engine?.transport;
      transport?.ws?._socket?.pause();
    }
  });
  s.on('connect_error', (e) => {
    c.failed = true;
    noteError(e);
    settle();
  });
  let expectOffset = 1;
  s.on('chunk', (offset: number, chunk: { choices?: { delta?: { content?: string } }[] }) => {
    const text = chunk.choices?.[0]?.delta?.content ?? '';
    c.scanner.feedString(text, nowUs());
    if (c.raw) {
      if (offset !== expectOffset) c.raw.push(`\u0000bad offset ${offset}, expected ${expectOffset}`);
      expectOffset = offset + 1;
      c.raw.push(text);
    }
    if (o.expected > 0 && c.scanner.count >= o.expected) markDone(c);
  });
  s.on('end', () => {
    c.ended = true;
    markDone(c);
  });
  s.on('disconnect', () => {
    c.ended = true;
    markDone(c);
  });
  return c;
}

/** Parses what a verifying SSE client received: consecutive ids from 1, JSON chunks, one [DONE]. */
function verifySse(c: Client): string | null {
  const all = (c.raw ?? []).join('');
  let text = '';
  let nextId = 1;
  for (const block of all.split('\n\n')) {
    if (!block) continue;
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) {
        if (Number(line.slice(4)) !== nextId) return `id ${line.slice(4)} where ${nextId} was due`;
        nextId++;
      } else if (line.startsWith('data: ')) {
        const data = line.slice(6);
        if (data === '[DONE]') continue;
        const j = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
        text += j.choices?.[0]?.delta?.content ?? '';
      } else if (line.startsWith(':') || line.startsWith('retry:')) {
      } else return `unexpected line ${JSON.stringify(line.slice(0, 60))}`;
    }
  }
  return checkText(c, text);
}

function verifySocketIo(c: Client): string | null {
  const raw = c.raw ?? [];
  const bad = raw.find((r) => r.startsWith('\u0000'));
  if (bad) return bad.slice(1);
  return checkText(c, raw.join(''));
}

function checkText(c: Client, text: string): string | null {
  const stamps = c.stamps ?? [];
  if (stamps.length !== c.scanner.count) return `parsed ${stamps.length} stamps, counted ${c.scanner.count}`;
  let want = '';
  for (const us of stamps) want += tokenText(us);
  if (text !== want) return `text differs from its ${stamps.length} tokens (${text.length} vs ${want.length} chars)`;
  return null;
}

/** Loaded on first use: SSE-only runs do not pay for socket.io-client. */
let ioClient: typeof import('socket.io-client').io | null = null;

async function open(o: OpenRequest): Promise<{ opened: number; failed: number }> {
  if (o.transport === 'socketio' && !ioClient) ioClient = (await import('socket.io-client')).io;
  waitingFor += o.count - o.stalled;
  let inflight = 0;
  let idx = 0;
  await new Promise<void>((resolve) => {
    if (o.count === 0) return resolve();
    let settledAll = 0;
    const pump = () => {
      while (idx < o.count && inflight < o.concurrency) {
        const i = idx++;
        inflight++;
        const onSettled = () => {
          inflight--;
          if (++settledAll === o.count) resolve();
          else pump();
        };
        clients.push(o.transport === 'sse' ? openSse(o, i, onSettled) : openSocketIo(o, i, onSettled));
      }
    };
    pump();
  });
  return { opened: clients.filter((c) => c.opened).length, failed: clients.filter((c) => c.failed).length };
}

function result(): LoadResult {
  const texts: Record<string, number> = {};
  const counts = clients.filter((c) => !c.stalled).map((c) => c.scanner.count);
  let delivered = 0;
  let lastAtUs = 0;
  const verifyErrors: string[] = [];
  let verified = 0;
  for (const c of clients) {
    delivered += c.scanner.count;
    if (c.scanner.lastAtUs > lastAtUs) lastAtUs = c.scanner.lastAtUs;
    if (c.stalled) continue;
    const key = `${c.gen} ${c.scanner.count} ${c.scanner.digest}`;
    texts[key] = (texts[key] ?? 0) + 1;
    if (c.raw) {
      let err: string | null;
      try {
        err = c.transport === 'sse' ? verifySse(c) : verifySocketIo(c);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
      }
      if (err) {
        if (verifyErrors.length < 5) verifyErrors.push(err);
      } else verified++;
    }
  }
  return {
    clients: clients.length,
    opened: clients.filter((c) => c.opened).length,
    failed: clients.filter((c) => c.failed).length,
    openNow: clients.filter((c) => c.opened && !c.ended).length,
    // Complete: had every token (a client whose connection ended early is done, not complete).
    complete: clients.filter((c) => !c.stalled && c.expected > 0 && c.scanner.count >= c.expected).length,
    delivered,
    minCount: counts.length ? Math.min(...counts) : 0,
    maxCount: counts.length ? Math.max(...counts) : 0,
    texts,
    hist: hist.pairs(),
    lastAtUs,
    completeAtUs: clients.filter((c) => !c.stalled && c.expected > 0 && c.scanner.count >= c.expected).map((c) => c.completeAtUs),
    verified,
    verifyErrors,
    errors,
  };
}

emit = serve(async (req: Request) => {
  switch (req.op) {
    case 'open':
      return open(req as unknown as OpenRequest);
    case 'go': {
      const go = pendingGo;
      pendingGo = [];
      for (const send of go) send();
      return null;
    }
    case 'collect':
      return result();
    case 'closeAll': {
      // Closing fires their close handlers later: mark them done first so they count for nothing.
      for (const c of clients) {
        c.done = true;
        c.close();
      }
      clients = [];
      pendingGo = [];
      doneCount = 0;
      waitingFor = 0;
      errors.length = 0;
      hist.reset();
      return null;
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
});
