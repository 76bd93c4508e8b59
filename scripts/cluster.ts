import { startCluster } from '../test/support/cluster.js';

/**
 * `npm run cluster`: the cluster topology without Docker, from local binaries (redis-server,
 * Debian's nginx): 3 edges and 2 producers behind nginx on free ports. Prints the endpoint,
 * streams every process's log lines, and tears everything down on Ctrl-C, SIGTERM or exit.
 *
 *   EDGES, PRODUCERS   how many of each (default 3 and 2)
 *   any other variable is passed to the edges and producers (MOCK_TOKENS_PER_SECOND, UPSTREAM_URL, …)
 */
function count(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new Error(`${name} must be an integer between 1 and 32, got ${JSON.stringify(v)}`);
  return n;
}

async function main(): Promise<void> {
  const edges = count('EDGES', 3);
  const producers = count('PRODUCERS', 2);
  const quiet = process.argv.includes('--quiet');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !['EDGES', 'PRODUCERS', 'PORT', 'REDIS_URL', 'PRODUCER_NAME', 'HOST'].includes(k)) env[k] = v;
  }
  const cluster = await startCluster({
    edges,
    producers,
    env,
    fast: false,
    onOutput: quiet ? undefined : (who, line) => process.stdout.write(`${who.padEnd(11)} ${line}\n`),
  });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('stopping the cluster…\n');
    await cluster.stop();
    process.stdout.write('stopped\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGHUP', () => void stop(0));
  for (const [i, p] of cluster.edges.entries()) p.exited.then(() => !stopping && process.stdout.write(`edge-${i} exited\n`));
  for (const [i, p] of cluster.producers.entries()) p.exited.then(() => !stopping && process.stdout.write(`producer-${i} exited\n`));
  const lines = [
    '',
    `tokencast cluster is up: ${cluster.url}`,
    `  nginx     ${cluster.url}  (deploy/nginx/nginx.conf)`,
    ...cluster.edgeAddrs.map((a, i) => `  edge-${i}    http://${a}`),
    ...cluster.producerNames.map((n, i) => `  producer-${i} pid ${cluster.producers[i]?.pid} (${n})`),
    `  redis     ${cluster.redis.url}`,
    '',
    `  curl -N ${cluster.url}/v1/chat/completions -H 'content-type: application/json' \\`,
    `    -d '{"model":"mock","stream":true,"messages":[{"role":"user","content":"hello"}]}'`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  // The endpoint on its own line, for scripts that wait for it.
  process.stdout.write(`ENDPOINT ${cluster.url}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
