import type { Redis } from 'ioredis';

/**
 * Runs one blocking command so that it always settles. With autoResendUnfulfilledCommands off,
 * ioredis drops a command that was in flight when the connection closed and never settles its
 * promise; and a blocking read has been seen to hang across reconnects even when re-sent
 * (ioredis #1285, #1888). So a read is abandoned, and resolves `null`, when the connection
 * closes or when it outlives its BLOCK by `marginMs` (the watchdog, which also forces a
 * reconnect). The caller then simply reads again from the last id it delivered.
 */
export async function guardedRead<T>(conn: Redis, issue: () => Promise<T>, blockMs: number, marginMs: number): Promise<T | null> {
  if (conn.status !== 'ready') {
    // Not connected: issuing now would only park the read in the offline queue, and the watchdog
    // below would then kill each reconnect attempt as it completes. Wait for 'ready' instead
    // (bounded); still not ready: let the caller try again.
    await waitReady(conn, blockMs + marginMs);
    if ((conn.status as string) !== 'ready') return null; // status changed while we waited
  }
  let onClose!: () => void;
  let timer: NodeJS.Timeout | undefined;
  const interrupted = new Promise<null>((resolve) => {
    onClose = () => resolve(null);
    conn.once('close', onClose);
    timer = setTimeout(() => {
      // The read outlived BLOCK by a wide margin on a ready connection: it is wedged, not quiet.
      if (conn.status === 'ready') conn.disconnect(true);
      resolve(null);
    }, blockMs + marginMs);
  });
  const read = issue();
  read.catch(() => {}); // an abandoned read may still reject later; nobody waits for it
  try {
    return await Promise.race([read, interrupted]);
  } finally {
    clearTimeout(timer);
    conn.off('close', onClose);
  }
}

function waitReady(conn: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      conn.off('ready', done);
      conn.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    conn.once('ready', done);
    conn.once('end', done); // closed for good (shutdown): nothing to wait for
  });
}

/** Sleeps ms without keeping the process alive; used to pace retries after errors. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
