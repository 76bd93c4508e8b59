import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fieldsToEvent } from '@tokencast/engine';
import { mockText } from '@tokencast/producer';
import { entryIdToOffset, parseChatRequest } from '@tokencast/protocol';
import type { Redis } from 'ioredis';
import { statuses, unfinished } from '../cluster/gen.js';
import { startCluster } from '../support/cluster.js';
import { type Rng, rng } from './rng.js';
import { eventSourceViewer, sdkViewer, type Viewer, type ViewerKind, type ViewerResult } from './viewers.js';

/**
 * The chaos driver. On the no-Docker topology (redis-server with an append-only file fsynced on
 * every write, 3 edges, 2 producers, nginx in front), `slots` generations of the mock run at any
 * time, each watched through nginx by `viewersPerGeneration` viewers (eventsource and the SDK,
 * half of them joining a little late, so they replay before they follow). Meanwhile a seeded
 * schedule kill -9s and SIGTERMs edges and producers and starts them again, and restarts
 * redis-server once. Afterwards every viewer and every stored generation is checked.
 */
export interface ChaosProfile {
  name: string;
  /** Generations live at once (one per slot; a slot submits its next one when the last ends). */
  slots: number;
  viewersPerGeneration: number;
  /** Faults are injected for at least this long, ms… */
  chaosMs: number;
  /** …and until at least this many processes were killed (kill -9 or SIGTERM)… */
  minKills: number;
  /** …but never longer than this, ms. */
  maxChaosMs: number;
  /** Pause between two faults, ms (uniform in the range). */
  actionEveryMs: [number, number];
  /** How long a killed process stays down before it is started again, ms. */
  downMs: [number, number];
  /** Share of kills that are kill -9 (the rest are SIGTERM, a drain). */
  sigkillShare: number;
  tokensPerSecond: number;
  /** Natural length of each generation, tokens (`[mock:len=N]`). */
  lengths: [number, number];
  /** The stated bound: no viewer waits longer than this for its next event, ms. */
  waitBoundMs: number;
  /** After the faults stop, viewers get this long to finish; one still waiting then is hung, ms. */
  settleMs: number;
}

export const PROFILES: Record<'short' | 'long', ChaosProfile> = {
  short: {
    name: 'short',
    slots: 20,
    viewersPerGeneration: 10,
    chaosMs: 75_000,
    minKills: 0,
    maxChaosMs: 90_000,
    actionEveryMs: [1_500, 3_500],
    downMs: [500, 3_000],
    sigkillShare: 0.6,
    tokensPerSecond: 30,
    lengths: [100, 300],
    waitBoundMs: 20_000,
    settleMs: 45_000,
  },
  long: {
    name: 'long',
    slots: 20,
    viewersPerGeneration: 10,
    chaosMs: 300_000,
    minKills: 110,
    maxChaosMs: 540_000,
    actionEveryMs: [1_000, 3_000],
    downMs: [500, 3_000],
    sigkillShare: 0.6,
    tokensPerSecond: 30,
    lengths: [100, 300],
    waitBoundMs: 20_000,
    settleMs: 45_000,
  },
};

export interface GenerationReport {
  id: string;
  slot: number;
  reference: string;
  /** Stored status and offsets, read from Redis after the run. */
  status: string;
  lastOffset: number;
  /** End events in the stored stream (exactly 1, the last entry, is right). */
  storedEnds: number;
  storedProblems: string[];
  viewers: ViewerResult[];
}

export interface ChaosTotals {
  seed: number;
  profile: string;
  chaosSeconds: number;
  generations: number;
  viewers: number;
  sigkills: number;
  sigterms: number;
  /** kill -9 and SIGTERM together. */
  kills: number;
  /** Edge and producer processes started again. */
  restarts: number;
  redisRestarts: number;
  /** Reconnections of viewers: every connection after a viewer's first one. */
  resumes: number;
  /** Times a client gave up (EventSource on a non-200, the SDK past its retry budget) and its app started it again. */
  clientGaveUp: number;
  /** Viewer connections answered with something else than 200, by status (502: nginx found no edge; 503: Redis away). */
  refusedConnections: Record<string, number>;
  /** Token events handed to viewers (each carries one or more model tokens). */
  tokenEventsDelivered: number;
  /** Offsets a viewer never got, and offsets a viewer (or, for the SDK, its connection) got twice. */
  lost: number;
  duplicated: number;
  hung: number;
  /** Viewers whose text differs from the reference, or that saw other than one `completed` end. */
  wrongText: number;
  wrongTerminal: number;
  /** Viewers that stopped with an error (gave up, protocol error). */
  failedViewers: number;
  generationsNotCompleted: number;
  storedProblems: number;
  maxWaitMs: number;
  submitRetries: number;
  /** Fewest generations live at once while the faults ran (sampled at each fault). */
  minLiveGenerations: number;
  unfinishedInRedis: string[];
  infraErrors: string[];
}

export interface ChaosRun {
  totals: ChaosTotals;
  generations: GenerationReport[];
  /** Human-readable descriptions of what went wrong (empty when all is well). */
  problems: string[];
  /** Where the processes' logs were written (on problems only). */
  logsDir: string | null;
}

const LIMITS = { maxTokensCap: 32_768, maxPromptChars: 200_000 };

function referenceOf(content: string): string {
  return mockText(parseChatRequest({ model: 'mock', messages: [{ role: 'user', content }] }, LIMITS)).text;
}

const between = (r: Rng, [a, b]: [number, number]) => r.int(a, b);

export async function runChaos(profile: ChaosProfile, seed: number, log: (line: string) => void = console.log): Promise<ChaosRun> {
  log(`chaos: profile ${profile.name}, SEED=${seed} (replay with SEED=${seed})`);
  const root = rng(seed);
  const schedule = root.fork(1_000_000);
  const cluster = await startCluster({
    edges: 3,
    producers: 2,
    edgeEnv: { SHUTDOWN_GRACE_MS: '2000', DRAIN_DELAY_MS: '0', RECONNECT_RETRY_MS: '300', LOG_LEVEL: 'warn' },
    producerEnv: {
      MOCK_TOKENS_PER_SECOND: String(profile.tokensPerSecond),
      RECLAIM_IDLE_MS: '1500',
      SHUTDOWN_GRACE_MS: '1500',
      // Every job is reclaimed many times over a long run; none may be dead-lettered for it.
      MAX_DELIVERIES: '100000',
      PRODUCER_CONCURRENCY: '64',
      // info: the cluster helper waits for "producer started".
      LOG_LEVEL: 'info',
    },
  });
  const t: ChaosTotals = {
    seed,
    profile: profile.name,
    chaosSeconds: 0,
    generations: 0,
    viewers: 0,
    sigkills: 0,
    sigterms: 0,
    kills: 0,
    restarts: 0,
    redisRestarts: 0,
    resumes: 0,
    clientGaveUp: 0,
    refusedConnections: {},
    tokenEventsDelivered: 0,
    lost: 0,
    duplicated: 0,
    hung: 0,
    wrongText: 0,
    wrongTerminal: 0,
    failedViewers: 0,
    generationsNotCompleted: 0,
    storedProblems: 0,
    maxWaitMs: 0,
    submitRetries: 0,
    minLiveGenerations: Number.POSITIVE_INFINITY,
    unfinishedInRedis: [],
    infraErrors: [],
  };
  const deadline = new AbortController();
  // Every viewer listens for it.
  setMaxListeners(0, deadline.signal);
  const waves: { id: string; slot: number; reference: string; viewers: Viewer[] }[] = [];
  let submitting = true;
  let live = 0;

  const submit = async (content: string): Promise<{ id: string; eventsUrl: string }> => {
    const body = JSON.stringify({ model: 'mock', messages: [{ role: 'user', content }] });
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await fetch(`${cluster.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        if (res.status === 202) {
          const j = (await res.json()) as { id: string; events_url: string };
          return { id: j.id, eventsUrl: `${cluster.url}${j.events_url}` };
        }
        const text = await res.text();
        // A 502/503 while an edge dies or Redis restarts is expected; anything else is not.
        if (res.status < 500) throw new Error(`submit answered ${res.status}: ${text}`);
      } catch (err) {
        if ((err as Error).message.startsWith('submit answered')) throw err;
      }
      t.submitRetries++;
      if (Date.now() > until) throw new Error('submit kept failing for 60 s');
      await sleep(300 + Math.floor(Math.random() * 700));
    }
  };

  const runSlot = async (slot: number) => {
    const r = root.fork(slot);
    await sleep(r.int(0, 3_000));
    for (let n = 0; submitting; n++) {
      const content = `chaos seed ${seed} slot ${slot} generation ${n} [mock:len=${between(r, profile.lengths)}]`;
      const reference = referenceOf(content);
      live++;
      try {
        const gen = await submit(content);
        const id = gen.id;
        const viewers: Viewer[] = [];
        const starts: Promise<void>[] = [];
        for (let v = 0; v < profile.viewersPerGeneration; v++) {
          const kind: ViewerKind = v % 2 === 0 ? 'eventsource' : 'sdk';
          const delay = v < profile.viewersPerGeneration / 2 ? 0 : r.int(0, 3_000);
          const start = () =>
            kind === 'eventsource'
              ? eventSourceViewer(gen.eventsUrl, { deadline: deadline.signal, reopenAfterMs: 500 })
              : sdkViewer(cluster.url, id, { deadline: deadline.signal, idleTimeoutMs: 10_000, reopenAfterMs: 500 });
          if (delay === 0) viewers.push(start());
          else starts.push(sleep(delay).then(() => void viewers.push(start())));
        }
        await Promise.all(starts);
        waves.push({ id, slot, reference, viewers });
        await Promise.all(viewers.map((v) => v.finished));
      } catch (err) {
        t.infraErrors.push(`slot ${slot}: ${(err as Error).message}`);
        return;
      } finally {
        live--;
      }
    }
  };

  // ---- the fault schedule -------------------------------------------------------------------
  const down = { edges: new Set<number>(), producers: new Set<number>() };
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const q = p.catch((err: Error) => void t.infraErrors.push(`fault: ${err.message}`)).finally(() => pending.delete(q));
    pending.add(q);
  };
  const fault = async (role: 'edge' | 'producer', i: number, signal: NodeJS.Signals, downMs: number) => {
    const set = role === 'edge' ? down.edges : down.producers;
    set.add(i);
    try {
      if (role === 'edge') await cluster.killEdge(i, signal);
      else await cluster.killProducer(i, signal);
      await sleep(downMs);
      if (role === 'edge') await cluster.restartEdge(i);
      else await cluster.restartProducer(i);
      t.restarts++;
    } finally {
      set.delete(i);
    }
  };
  const faults = async () => {
    // Every slot has started its first generation (each waits up to 3 s) before the first fault.
    await sleep(3_500);
    const t0 = Date.now();
    let redisDone = false;
    const elapsed = () => Date.now() - t0;
    while ((elapsed() < profile.chaosMs || t.kills < profile.minKills) && elapsed() < profile.maxChaosMs) {
      await sleep(between(schedule, profile.actionEveryMs));
      t.minLiveGenerations = Math.min(t.minLiveGenerations, live);
      if (!redisDone && elapsed() >= profile.chaosMs * 0.4) {
        // One redis-server restart (kill -9, then start on the same AOF), with every app process up.
        redisDone = true;
        await Promise.all([...pending]);
        log(`chaos: t=${(elapsed() / 1000).toFixed(0)} s restarting redis-server`);
        await cluster.redis.kill();
        await sleep(between(schedule, [500, 2_000]));
        await cluster.redis.start();
        t.redisRestarts++;
        continue;
      }
      // At least one edge and one producer stay up: the claim is about surviving faults, not an outage.
      const targets: ['edge' | 'producer', number][] = [];
      if (down.edges.size < 2) for (let i = 0; i < 3; i++) if (!down.edges.has(i)) targets.push(['edge', i]);
      if (down.producers.size < 1) for (let i = 0; i < 2; i++) if (!down.producers.has(i)) targets.push(['producer', i]);
      if (targets.length === 0) continue;
      const [role, i] = schedule.pick(targets);
      const signal: NodeJS.Signals = schedule.next() < profile.sigkillShare ? 'SIGKILL' : 'SIGTERM';
      const downMs = between(schedule, profile.downMs);
      if (signal === 'SIGKILL') t.sigkills++;
      else t.sigterms++;
      t.kills++;
      track(fault(role, i, signal, downMs));
    }
    await Promise.all([...pending]);
    t.chaosSeconds = Math.round(elapsed() / 1000);
  };

  let logsDir: string | null = null;
  const problems: string[] = [];
  const generations: GenerationReport[] = [];
  try {
    const slots = Array.from({ length: profile.slots }, (_, k) => runSlot(k));
    await faults();
    submitting = false;
    log(`chaos: faults over after ${t.chaosSeconds} s (${t.kills} kills); waiting up to ${profile.settleMs / 1000} s for the viewers`);
    const settle = setTimeout(() => deadline.abort(), profile.settleMs);
    await Promise.all(slots);
    clearTimeout(settle);

    // ---- checks -----------------------------------------------------------------------------
    const redis = cluster.redis.client();
    for (const w of waves) generations.push(await check(redis, w.id, w.slot, w.reference, await Promise.all(w.viewers.map((v) => v.finished))));
    // Generations nobody watches (a submit retried after its answer was lost) must end too.
    const until = Date.now() + 30_000;
    for (;;) {
      t.unfinishedInRedis = unfinished(await statuses(redis));
      if (t.unfinishedInRedis.length === 0 || Date.now() > until) break;
      await sleep(250);
    }
    tally(t, generations, profile, problems);
    if (t.unfinishedInRedis.length) problems.push(`generations left unfinished in Redis: ${t.unfinishedInRedis.slice(0, 5).join(', ')}`);
    for (const e of t.infraErrors) problems.push(`infrastructure: ${e}`);
    if (problems.length) logsDir = cluster.dumpLogs();
  } finally {
    deadline.abort();
    await cluster.stop();
  }
  log(formatTotals(t));
  if (problems.length) log(`chaos: ${problems.length} problems (logs in ${logsDir}):\n  ${problems.slice(0, 30).join('\n  ')}`);
  return { totals: t, generations, problems, logsDir };
}

/** The stored truth of one generation, and its viewers as they were. */
async function check(redis: Redis, id: string, slot: number, reference: string, viewers: ViewerResult[]): Promise<GenerationReport> {
  const status = (await redis.hget(`tc:{${id}}:meta`, 'status')) ?? 'missing';
  const entries = (await redis.xrange(`tc:{${id}}:events`, '-', '+')) as [string, string[]][];
  const storedProblems: string[] = [];
  let text = '';
  let ends = 0;
  entries.forEach(([entryId, fields], k) => {
    if (entryIdToOffset(entryId) !== k + 1) storedProblems.push(`entry ${k + 1} has id ${entryId}`);
    const ev = fieldsToEvent(k + 1, fields);
    if (!ev) storedProblems.push(`entry ${entryId} does not decode`);
    else if (ev.kind === 'token') text += ev.text;
    else if (ev.kind === 'end') {
      ends++;
      if (k !== entries.length - 1) storedProblems.push(`an end event at ${entryId} is not the last entry`);
      if (ev.status !== 'completed') storedProblems.push(`ended ${ev.status} (${ev.error?.code ?? ''} ${ev.error?.message ?? ''})`);
    }
  });
  if (ends !== 1) storedProblems.push(`${ends} end events stored`);
  if (text !== reference) storedProblems.push(`stored text differs from the reference (${text.length} vs ${reference.length} chars)`);
  return { id, slot, reference, status, lastOffset: entries.length, storedEnds: ends, storedProblems, viewers };
}

function tally(t: ChaosTotals, gens: GenerationReport[], profile: ChaosProfile, problems: string[]): void {
  t.generations = gens.length;
  for (const g of gens) {
    if (g.status !== 'completed') t.generationsNotCompleted++;
    if (g.storedProblems.length) {
      t.storedProblems++;
      problems.push(`${g.id}: ${g.storedProblems.join('; ')}`);
    }
    const expected = Array.from({ length: g.lastOffset }, (_, k) => k + 1);
    for (const [k, v] of g.viewers.entries()) {
      t.viewers++;
      const who = `${g.id} viewer ${k} (${v.kind})`;
      const seen = new Set(v.delivered);
      let lost = expected.filter((o) => !seen.has(o)).length;
      let dup = v.delivered.length - seen.size;
      // Below the client: every connection must carry exactly the offsets after the one it asked for.
      for (const c of v.connections) {
        if (c.status !== 200) t.refusedConnections[c.status] = (t.refusedConnections[c.status] ?? 0) + 1;
        c.offsets.forEach((o, j) => {
          const want = c.from + 1 + j;
          if (o < want) dup++;
          else if (o > want) lost += o - want;
        });
      }
      const inOrder = v.delivered.every((o, j) => o === j + 1);
      t.lost += lost;
      t.duplicated += dup;
      t.tokenEventsDelivered += v.delivered.length - v.terminals.length;
      t.resumes += Math.max(0, v.connections.length - 1);
      t.clientGaveUp += v.reopens;
      t.maxWaitMs = Math.max(t.maxWaitMs, v.maxWaitMs);
      const hung = v.hung || v.maxWaitMs > profile.waitBoundMs;
      if (hung) t.hung++;
      if (v.text !== g.reference) t.wrongText++;
      const terminalOk = v.terminals.length === 1 && v.terminals[0]?.status === 'completed' && v.terminals[0].offset === g.lastOffset;
      if (!terminalOk) t.wrongTerminal++;
      if (v.failure && !v.hung) t.failedViewers++;
      if (lost || dup || !inOrder || hung || v.text !== g.reference || !terminalOk || v.failure || !v.done) {
        const conns = v.connections.map((c) => `${c.status}@${c.edge ?? '-'} from ${c.from}: ${c.offsets[0] ?? '-'}…${c.offsets.at(-1) ?? '-'} (${c.offsets.length})`);
        problems.push(
          `${who}: lost ${lost}, dup ${dup}, in order ${inOrder}, wait ${v.maxWaitMs} ms${v.hung ? ' HUNG' : ''}, text ${v.text === g.reference ? 'ok' : `wrong (${v.text.length}/${g.reference.length} chars)`}, terminals ${JSON.stringify(v.terminals)}, done ${v.done}, failure ${v.failure}; connections ${conns.join(' | ')}`,
        );
      }
    }
  }
  if (!Number.isFinite(t.minLiveGenerations)) t.minLiveGenerations = 0;
}

export function formatTotals(t: ChaosTotals): string {
  return [
    `chaos totals (profile ${t.profile}, SEED=${t.seed}, faults for ${t.chaosSeconds} s):`,
    `  generations ${t.generations}, viewers ${t.viewers}, fewest live generations during faults ${t.minLiveGenerations}`,
    `  kills ${t.kills} (kill -9 ${t.sigkills}, SIGTERM ${t.sigterms}), process restarts ${t.restarts}, redis-server restarts ${t.redisRestarts}`,
    `  resumes ${t.resumes} (clients that gave up and were started again by their app: ${t.clientGaveUp}), token events delivered ${t.tokenEventsDelivered}, submit retries ${t.submitRetries}`,
    `  viewer connections refused: ${
      Object.entries(t.refusedConnections)
        .map(([k, n]) => `${k}×${n}`)
        .join(' ') || 'none'
    }`,
    `  lost ${t.lost}, duplicated ${t.duplicated}, hung ${t.hung}, wrong text ${t.wrongText}, wrong terminal ${t.wrongTerminal}, viewers failed ${t.failedViewers}`,
    `  generations not completed ${t.generationsNotCompleted}, stored problems ${t.storedProblems}, unfinished in Redis ${t.unfinishedInRedis.length}`,
    `  longest wait for a next event ${t.maxWaitMs} ms`,
  ].join('\n');
}
