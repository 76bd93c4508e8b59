/**
 * Long-lived responses of the Durable Streams endpoint (long-polls and SSE). When the edge shuts
 * down each is told to finish now: a long-poll answers "no new data" with the offset it waited
 * at, an SSE response ends after its last complete event; both clients simply come back (to
 * another edge) from the offset they hold.
 */
export class LiveSet {
  /** Each waiting response's finish function, with the API key it was opened with (null: none). */
  private readonly finishers = new Map<() => void, string | null>();
  closing = false;

  /** Register; the returned function unregisters. */
  add(finish: () => void, key: string | null = null): () => void {
    if (this.closing) queueMicrotask(finish);
    this.finishers.set(finish, key);
    return () => this.finishers.delete(finish);
  }

  /** Finish the responses opened with any of these (revoked) keys. */
  finishOwnedBy(keys: ReadonlySet<string>): void {
    for (const [f, key] of [...this.finishers]) if (key !== null && keys.has(key)) f();
  }

  get size(): number {
    return this.finishers.size;
  }

  finishAll(): void {
    this.closing = true;
    for (const f of [...this.finishers.keys()]) f();
  }
}
