import { type ChildProcess, fork } from 'node:child_process';

/**
 * Request/response over the IPC channel of a forked helper (writer, load generator). Requests
 * carry an id; a reply with the same id settles them. Messages without an id are events.
 */
export interface Request {
  op: string;
  [k: string]: unknown;
}

interface Envelope {
  id?: number;
  ok?: boolean;
  error?: string;
  body?: unknown;
  event?: string;
  data?: unknown;
}

export class Helper {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, Set<(data: unknown) => void>>();
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: Envelope) => {
      if (m.id !== undefined) {
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if (m.ok) w.resolve(m.body);
        else w.reject(new Error(`${name}: ${m.error}`));
      } else if (m.event) {
        for (const l of this.listeners.get(m.event) ?? []) l(m.data);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-10_000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code}) ${this.stderr}`));
        this.waiting.clear();
        resolve();
      }),
    );
  }

  static start(name: string, main: string, execArgv: string[] = []): Helper {
    const child = fork(main, [], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv, serialization: 'advanced' });
    return new Helper(name, child);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  call<T>(req: Request): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  on(event: string, listener: (data: unknown) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The helper side: answer requests with `handle`, send events with the returned function. */
export function serve(handle: (req: Request) => Promise<unknown>): (event: string, data?: unknown) => void {
  process.on('message', (m: Request & { id: number }) => {
    handle(m).then(
      (body) => process.send?.({ id: m.id, ok: true, body }),
      (err: unknown) => process.send?.({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  return (event, data) => process.send?.({ event, data });
}
