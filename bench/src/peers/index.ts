import { fileURLToPath } from 'node:url';
import { type ServerProc, startServer } from '../sys.js';
import type { PeerName } from './names.js';

export { isPeer, PEERS, type PeerName, transportOf } from './names.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The built edge: tokencast runs as the real process a deployment runs. */
export const EDGE_MAIN = here('../../../apps/edge/dist/main.js');
export const PRODUCER_MAIN = here('../../../apps/producer/dist/main.js');

const MAINS: Record<Exclude<PeerName, 'tokencast'>, string> = {
  naive: here('./naive-server.js'),
  'resumable-stream': here('./resumable-server.js'),
  'socket.io': here('./socketio-server.js'),
  limit: here('./limit-server.js'),
};

export interface PeerStartOptions {
  redisUrl: string;
  /** Write a V8 CPU profile of the tokencast edge into this folder (on SIGTERM). */
  profileDir: string | null;
}

export async function startPeer(peer: PeerName, o: PeerStartOptions): Promise<ServerProc> {
  if (peer === 'tokencast') {
    const args = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [];
    // Several nodes: a Redis Cluster (the many scenario's cluster cases).
    const cluster: Record<string, string> = o.redisUrl.includes(',') ? { REDIS_CLUSTER: 'true' } : {};
    const proc = await startServer(EDGE_MAIN, { REDIS_URL: o.redisUrl, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '2000', ...cluster }, args);
    if (!o.profileDir) return proc;
    // A profile is written when the process exits by itself: ask it to drain instead of killing it.
    return {
      ...proc,
      async stop() {
        if (proc.child.exitCode !== null) return;
        const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
  return startServer(MAINS[peer], { REDIS_URL: o.redisUrl });
}
