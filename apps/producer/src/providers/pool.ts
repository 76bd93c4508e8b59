import type { GenerationRequest } from '@tokencast/protocol';
import { UpstreamError } from './errors.js';
import type { GenerateContext, Provider, ProviderEvent } from './provider.js';

export interface PoolMember {
  provider: Provider;
  /** Relative share of new generations (> 0). */
  weight: number;
  /** Generations sent to this upstream at once by this producer; 0: no limit. */
  maxConcurrency: number;
  /** Model name the upstream knows this model by; null: the same name. */
  upstreamModel: string | null;
}

/**
 * Several upstreams serving one model. Picks by weight among those with spare capacity; an
 * upstream that fails before its first token is skipped and the next one tried (nothing was
 * published yet, so the viewer sees one clean stream); a failure after the first token ends the
 * generation with an error, because a different upstream would not continue the same text.
 */
export class UpstreamPool implements Provider {
  readonly name = 'pool';
  readonly canResume = false;
  private readonly inflight: number[];

  constructor(private readonly members: PoolMember[]) {
    if (members.length === 0) throw new Error('an upstream pool needs at least one member');
    this.inflight = members.map(() => 0);
  }

  async *generate(req: GenerationRequest, ctx: GenerateContext): AsyncIterable<ProviderEvent> {
    const tried = new Set<number>();
    let lastError: unknown = null;
    while (tried.size < this.members.length) {
      const i = this.pick(tried);
      tried.add(i);
      const m = this.members[i] as PoolMember;
      this.inflight[i] = (this.inflight[i] ?? 0) + 1;
      let started = false;
      try {
        const r = m.upstreamModel ? { ...req, model: m.upstreamModel } : req;
        for await (const ev of m.provider.generate(r, ctx)) {
          if (ev.type !== 'end') started = true;
          yield ev;
        }
        return;
      } catch (err) {
        if (started || !(err instanceof UpstreamError) || ctx.signal.aborted) throw err;
        lastError = err;
      } finally {
        this.inflight[i] = (this.inflight[i] ?? 1) - 1;
      }
    }
    throw lastError ?? new UpstreamError('connect', 'no upstream is available');
  }

  /** Weighted random among untried members with capacity; the least loaded untried one otherwise. */
  private pick(tried: Set<number>): number {
    const open: number[] = [];
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i] as PoolMember;
      if (!tried.has(i) && (m.maxConcurrency === 0 || (this.inflight[i] ?? 0) < m.maxConcurrency)) open.push(i);
    }
    if (open.length > 0) {
      const total = open.reduce((n, i) => n + (this.members[i] as PoolMember).weight, 0);
      let r = Math.random() * total;
      for (const i of open) {
        r -= (this.members[i] as PoolMember).weight;
        if (r <= 0) return i;
      }
      return open[open.length - 1] as number;
    }
    let best = -1;
    for (let i = 0; i < this.members.length; i++) {
      if (tried.has(i)) continue;
      const load = (this.inflight[i] ?? 0) / ((this.members[i] as PoolMember).maxConcurrency || 1);
      if (best < 0 || load < (this.inflight[best] ?? 0) / ((this.members[best] as PoolMember).maxConcurrency || 1)) best = i;
    }
    return best;
  }

  async close(): Promise<void> {
    for (const m of this.members) await m.provider.close();
  }
}
