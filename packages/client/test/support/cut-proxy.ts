import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy for fault injection between a client and a real edge. It forwards bytes both ways
 * and, on request, breaks connections: after a given number of response bytes (mid-header,
 * mid-frame, anywhere), all at once, or by answering an HTTP error status itself.
 */
export interface Fault {
  /** Cut after this many server→client bytes of the response (0: before any byte). */
  cutAfter?: number;
  /** Answer with this status (and close) instead of reaching the edge. */
  status?: number;
}

interface Link {
  client: Socket;
  upstream: Socket | null;
  cutAfter: number | undefined;
  sent: number;
}

export class CutProxy {
  /** Connections whose fault was applied (cut or status answered). */
  faults = 0;
  accepted = 0;
  private readonly queue: Fault[] = [];
  private readonly links = new Set<Link>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<CutProxy> {
    let proxy: CutProxy | null = null;
    const server = createServer((socket) => proxy?.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    proxy = new CutProxy(server, typeof addr === 'object' && addr ? addr.port : 0, targetPort);
    return proxy;
  }

  /** Connections open right now. */
  get open(): number {
    return this.links.size;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Send new connections to another port (an edge replaced behind a balancer). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** Faults for the next requests, one each, in order. */
  arm(...faults: Fault[]): void {
    this.queue.push(...faults);
  }

  /** Forget queued faults and the pending cuts of open connections. */
  disarm(): void {
    this.queue.length = 0;
    for (const l of this.links) l.cutAfter = undefined;
  }

  /** Break every open connection now (an edge that died, a network that dropped). */
  cutAll(): void {
    for (const l of [...this.links]) this.cut(l);
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    const link: Link = { client, upstream: null, cutAfter: undefined, sent: 0 };
    this.links.add(link);
    client.on('data', (d: Buffer) => {
      // Faults apply per request, not per connection: clients reuse kept-alive connections.
      if (REQUEST_LINE.test(d.toString('latin1', 0, 16))) {
        const fault = this.queue.shift();
        link.cutAfter = fault?.cutAfter;
        link.sent = 0;
        if (fault?.status !== undefined) return this.answer(link, fault.status);
        if (link.cutAfter === 0) return this.cut(link);
      }
      link.upstream ??= this.connectUpstream(link);
      link.upstream.write(d);
    });
    const close = () => this.drop(link);
    client.on('error', close);
    client.on('close', close);
  }

  private connectUpstream(link: Link): Socket {
    const upstream = connect(this.targetPort, '127.0.0.1');
    upstream.on('data', (d: Buffer) => {
      if (link.cutAfter !== undefined && link.sent + d.length >= link.cutAfter) {
        // Deliver the bytes up to the cut (often half an SSE frame), then break the connection.
        link.client.write(d.subarray(0, link.cutAfter - link.sent));
        this.cut(link);
        return;
      }
      link.sent += d.length;
      link.client.write(d);
    });
    const close = () => this.drop(link);
    upstream.on('error', close);
    upstream.on('close', close);
    return upstream;
  }

  private cut(link: Link): void {
    if (!this.links.has(link)) return;
    this.faults++;
    this.links.delete(link);
    // Half the cuts are resets, half orderly closes mid-response: clients must survive both.
    if (Math.random() < 0.5) link.client.resetAndDestroy();
    else link.client.destroy();
    link.upstream?.destroy();
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.upstream?.destroy();
  }

  private answer(link: Link, status: number): void {
    this.faults++;
    this.links.delete(link);
    link.upstream?.destroy();
    const body = JSON.stringify({ error: { message: 'injected by the test proxy', type: 'server_error', param: null, code: `injected_${status}` } });
    link.client.end(
      `HTTP/1.1 ${status} Injected\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 0\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}

const REQUEST_LINE = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) /;
