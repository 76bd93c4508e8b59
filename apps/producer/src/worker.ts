import { type Engine, FencedError, type Job, type JobQueue } from '@tokencast/engine';
import { type EndEvent, emptyUsage, type GenerationMeta, normalizeUsage, promptText, summarizeTokenTimes, type Usage } from '@tokencast/protocol';
import { errInfo } from '@tokencast/runtime';
import type { Logger } from 'pino';
import { observeTimings, producerMetrics } from './metrics.js';
import type { ModelCatalog } from './providers/catalog.js';
import { UpstreamError } from './providers/errors.js';
import { promptTokens } from './providers/mock.js';
import { GenerationWriter, PriorOutput } from './writer.js';

export type ReclaimPolicy = 'continue' | 'fail';

export interface WorkerOptions {
  /** Consumer name in the queue's group; unique per process. */
  name: string;
  /** Generations run at once by this process. */
  concurrency: number;
  /** A job whose producer has been silent this long is reclaimed by another, ms. */
  reclaimIdleMs: number;
  /** Deliveries after which a job is dead-lettered and its generation ended with an error. */
  maxDeliveries: number;
  /** What a reclaimed generation that already has events does: continue from its last offset
   * when the provider can reproduce the text (the mock can), or end with an error. */
  reclaimPolicy: ReclaimPolicy;
  /** BLOCK of the queue read, ms. */
  takeBlockMs: number;
  /** How long appends are retried while the store is unreachable, ms. */
  writeRetryBudgetMs: number;
  /** The job queue this worker takes from; default 'default'. */
  queue?: string;
}

interface Active {
  job: Job;
  abort: AbortController;
  done: Promise<void>;
}

/** Why a running generation was aborted by us: a cancel ends it, a shutdown hands it back. */
const CANCELLED = Symbol('cancelled');
const SHUTDOWN = Symbol('shutdown');

/**
 * Pulls jobs from the queue and runs up to `concurrency` generations. Jobs stay pending until
 * their generation has its terminal event; a heartbeat (touch) keeps them from looking idle, so
 * only a producer that really died has its jobs reclaimed.
 */
export class Worker {
  private readonly active = new Map<string, Active>(); // by generation id
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private slotFreed: (() => void) | null = null;
  private unsubscribeCancel: (() => void) | null = null;

  private readonly queue: JobQueue;

  constructor(
    private readonly engine: Engine,
    private readonly catalog: ModelCatalog,
    private readonly log: Logger,
    private readonly opts: WorkerOptions,
  ) {
    this.queue = engine.queueFor(opts.queue ?? 'default');
  }

  get activeCount(): number {
    return this.active.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeCancel = this.engine.store.onCancel((id) => this.active.get(id)?.abort.abort(CANCELLED));
    const beat = Math.max(50, Math.floor(this.opts.reclaimIdleMs / 3));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), beat);
    this.timers.push(
      this.heartbeatTimer,
      setInterval(() => this.reclaim(), Math.max(50, Math.floor(this.opts.reclaimIdleMs / 2))),
    );
    for (const t of this.timers) t.unref();
    this.loopDone = this.takeLoop();
    this.log.info({ producer: this.opts.name, queue: this.opts.queue ?? 'default', concurrency: this.opts.concurrency, models: this.catalog.names() }, 'producer started');
  }

  /**
   * Stop taking jobs; give running generations `graceMs` to finish; then abort the rest without
   * acknowledging them, so another producer reclaims and continues them.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.slotFreed?.();
    // The reclaim timer stops now (no new work); the heartbeat runs on while jobs drain, or
    // another producer would take them over mid-generation and fence this one out.
    for (const t of this.timers) if (t !== this.heartbeatTimer) clearInterval(t);
    await this.queue.close();
    await this.loopDone;
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([all, timer]);
    for (const a of this.active.values()) a.abort.abort(SHUTDOWN);
    await all;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.unsubscribeCancel?.();
  }

  private async takeLoop(): Promise<void> {
    while (this.running) {
      const free = this.opts.concurrency - this.active.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        this.slotFreed = null;
        continue;
      }
      try {
        const jobs = await this.queue.take(this.opts.name, free, this.opts.takeBlockMs);
        for (const job of jobs) this.launch(job);
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err: errInfo(err) }, 'queue read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500).unref());
      }
    }
  }

  private async reclaim(): Promise<void> {
    const free = this.opts.concurrency - this.active.size;
    if (!this.running || free <= 0) return;
    try {
      const jobs = await this.queue.reclaim(this.opts.name, this.opts.reclaimIdleMs, free);
      for (const job of jobs) {
        this.log.warn({ gen: job.generationId, deliveries: job.deliveries }, 'reclaimed a job from a silent producer');
        this.launch(job);
      }
    } catch (err) {
      this.log.warn({ err: errInfo(err) }, 'reclaim failed');
    }
  }

  private heartbeat(): void {
    const ids = [...this.active.values()].map((a) => a.job.jobId);
    this.queue.touch(this.opts.name, ids).catch((err) => this.log.warn({ err: errInfo(err) }, 'heartbeat failed'));
  }

  private launch(job: Job): void {
    if (this.active.has(job.generationId)) return;
    const abort = new AbortController();
    const entry: Active = { job, abort, done: Promise.resolve() };
    this.active.set(job.generationId, entry);
    producerMetrics.active.set(this.active.size);
    if (job.deliveries > 1) producerMetrics.reclaimed.inc();
    entry.done = this.run(job, abort.signal)
      .catch((err) => this.log.error({ gen: job.generationId, err: errInfo(err) }, 'job failed unexpectedly'))
      .finally(() => {
        this.active.delete(job.generationId);
        producerMetrics.active.set(this.active.size);
        this.slotFreed?.();
      });
  }

  private async run(job: Job, signal: AbortSignal): Promise<void> {
    const { store } = this.engine;
    const queue = this.queue;
    const id = job.generationId;
    const claim = await store.claim(id, this.opts.name);
    if (!claim) {
      // Ended or expired while queued: nothing to write.
      await queue.ack(job.jobId);
      return;
    }
    const { meta, fence } = claim;
    const log = this.log.child({ gen: id, model: meta.model });
    const prior = await this.priorOutput(meta);
    const writer = new GenerationWriter(store, id, fence, meta.createdAt, meta.lastOffset, prior.tokens, { retryBudgetMs: this.opts.writeRetryBudgetMs }, prior);
    const promptCount = promptTokens(promptText(meta.request));
    if (job.deliveries === 1 && meta.startedAt) producerMetrics.queueWait.observe(Math.max(0, meta.startedAt - meta.createdAt));
    const finish = async (end: Omit<EndEvent, 'offset' | 'ms'>) => {
      await writer.end({ ...end, timings: summarizeTokenTimes([...prior.ms, ...writer.tokenMs]) });
      await queue.ack(job.jobId);
      producerMetrics.generations.inc({ status: end.status, model: meta.model });
      producerMetrics.tokens.inc({ model: meta.model }, writer.tokenMs.length);
      observeTimings(meta.model, writer.tokenMs);
      log.info({ status: end.status, finish: end.finishReason, tokens: writer.tokens }, 'generation ended');
    };
    const failed = (code: string, message: string, usage: Usage) => finish({ kind: 'end', status: 'failed', finishReason: 'error', usage, error: { code, message } });

    if (job.deliveries > this.opts.maxDeliveries) {
      await queue.deadLetter(job, 'too many deliveries');
      await writer.end({
        kind: 'end',
        status: 'failed',
        finishReason: 'error',
        usage: usageOf(promptCount, prior.tokens),
        error: { code: 'too_many_attempts', message: `the generation was attempted ${job.deliveries} times` },
      });
      log.error({ deliveries: job.deliveries }, 'dead-lettered a job that kept failing');
      return;
    }
    const provider = this.catalog.providerFor(meta.model);
    if (!provider) return failed('model_not_served', `no producer serves model ${meta.model}`, usageOf(promptCount, 0));
    if (meta.lastOffset > 0 && (this.opts.reclaimPolicy === 'fail' || !provider.canResume)) {
      return failed('producer_lost', 'the producer of this generation stopped before it finished', usageOf(promptCount, prior.tokens));
    }
    // A cancel published before this producer subscribed (or while no producer held the job)
    // is not missed: the request is recorded in the meta too.
    if (meta.cancelRequestedAt) {
      return finish({ kind: 'end', status: 'cancelled', finishReason: 'cancelled', usage: usageOf(promptCount, prior.tokens), error: null });
    }
    if (meta.lastOffset > 0) log.info({ offset: meta.lastOffset, tokens: prior.tokens }, 'continuing a reclaimed generation');

    try {
      const resume = { signal, resumeTokens: prior.tokens, resumeText: prior.text, resumeMarkers: prior.markers };
      for await (const ev of provider.generate(meta.request, resume)) {
        if (ev.type !== 'end') writer.push(ev);
        else return await finish({ kind: 'end', status: 'completed', finishReason: ev.finishReason, usage: endUsage(ev.usage, promptCount, writer), error: null });
      }
      // The provider stopped without an end: we aborted it.
      if (signal.reason === SHUTDOWN) {
        log.info('handing the generation back on shutdown');
        return; // not acked: another producer reclaims it and continues
      }
      if (signal.reason === CANCELLED) {
        return await finish({ kind: 'end', status: 'cancelled', finishReason: 'cancelled', usage: usageOf(promptCount, writer.tokens), error: null });
      }
      return await failed('upstream_ended', 'the model stopped without finishing', usageOf(promptCount, writer.tokens));
    } catch (err) {
      if (err instanceof FencedError) {
        log.warn('fenced: another producer owns this generation now');
        return; // the new owner acks the job
      }
      if (err instanceof UpstreamError) {
        producerMetrics.upstreamErrors.inc({ kind: err.kind });
        // The upstream's own words and addresses go to the log only; clients get code + generic message.
        log.warn({ err: errInfo(err), kind: err.kind, detail: err.detail, upstreamStatus: err.upstreamStatus || undefined }, 'upstream failed');
        return await failed(err.code, err.message, usageOf(promptCount, writer.tokens));
      }
      throw err;
    }
  }

  /** What a generation that is being continued has published already. */
  private async priorOutput(meta: GenerationMeta): Promise<PriorOutput> {
    const prior = new PriorOutput();
    if (meta.lastOffset === 0) return prior;
    let after = 0;
    for (;;) {
      const evs = await this.engine.store.readEvents(meta.id, after, 1000);
      if (evs.length === 0) break;
      for (const e of evs) {
        prior.add(e);
        after = e.offset;
      }
    }
    return prior;
  }
}

/**
 * The end's usage: the upstream's numbers where it gave them, the writer's count otherwise.
 * Details (cached, reasoning tokens) only when known: from the upstream, or reasoning tokens the
 * writer counted itself.
 */
function endUsage(reported: Partial<Usage> | null, promptCount: number, writer: GenerationWriter): Usage {
  const u = normalizeUsage({
    ...reported,
    prompt_tokens: reported?.prompt_tokens ?? promptCount,
    completion_tokens: reported?.completion_tokens ?? writer.tokens,
    total_tokens: undefined,
  });
  if (!u.completion_tokens_details && reported?.completion_tokens === undefined && writer.reasoningTokens > 0)
    u.completion_tokens_details = { reasoning_tokens: writer.reasoningTokens };
  return u;
}

function usageOf(prompt: number, completion: number): Usage {
  const u = emptyUsage();
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.total_tokens = prompt + completion;
  return u;
}
