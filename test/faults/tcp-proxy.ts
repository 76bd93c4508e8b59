import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of redis-server that can wedge connections: `freeze(match)` stops
 * forwarding, in both directions, on every open connection whose client has sent `match` (e.g.
 * the CLIENT SETNAME of a blocking reader), without closing anything. That is the half-dead
 * connection ioredis users hit, where a blocking read neither returns nor fails. Connections
 * opened afterwards are forwarded normally.
 */
export interface TcpProxy {
  port: number;
  url: string;
  /** Wedges the matching open connections; resolves with how many were wedged. */
  freeze(match: string): number;
  /** Connections opened so far whose client sent `match`. */
  opened(match: string): number;
  close(): Promise<void>;
}

interface Pipe {
  client: Socket;
  server: Socket;
  /** What the client sent, kept while short: enough to see its CLIENT SETNAME. */
  sent: string;
  frozen: boolean;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pipes = new Set<Pipe>();
  const everSent: string[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pipe: Pipe = { client, server: upstream, sent: '', frozen: false };
    pipes.add(pipe);
    const index = everSent.push('') - 1;
    client.on('data', (d: Buffer) => {
      if (pipe.sent.length < 4096) {
        pipe.sent += d.toString('latin1');
        everSent[index] = pipe.sent;
      }
      if (!pipe.frozen) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!pipe.frozen) client.write(d);
    });
    const drop = () => {
      pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    freeze(match) {
      let n = 0;
      for (const p of pipes) {
        if (!p.frozen && p.sent.includes(match)) {
          p.frozen = true;
          n++;
        }
      }
      return n;
    },
    opened: (match) => everSent.filter((s) => s.includes(match)).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pipes) {
          p.client.destroy();
          p.server.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
