/**
 * A latency histogram in µs that processes can merge: 1 µs buckets below 1 ms, then buckets 2 %
 * wide up to about 10 minutes. Percentiles come out within 2 %, and a load process ships at most
 * a few hundred numbers to the harness however many events it saw.
 */
const LINEAR = 1_000;
const GROWTH = Math.log(1.02);
const SIZE = LINEAR + Math.ceil(Math.log(600_000_000 / LINEAR) / GROWTH) + 1;

function bucketOf(us: number): number {
  if (us < LINEAR) return us < 0 ? 0 : Math.floor(us);
  return Math.min(SIZE - 1, LINEAR + Math.floor(Math.log(us / LINEAR) / GROWTH));
}

/** Lower bound of a bucket, µs. */
function bucketValue(b: number): number {
  return b < LINEAR ? b : LINEAR * Math.exp((b - LINEAR) * GROWTH);
}

/** Sparse form sent between processes: [bucket, count] pairs. */
export type HistPairs = [number, number][];

export class Histogram {
  private readonly counts = new Float64Array(SIZE);
  total = 0;

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }

  record(us: number): void {
    this.counts[bucketOf(us)]! += 1;
    this.total++;
  }

  merge(pairs: HistPairs): void {
    for (const [b, n] of pairs) {
      this.counts[b]! += n;
      this.total += n;
    }
  }

  pairs(): HistPairs {
    const out: HistPairs = [];
    for (let b = 0; b < SIZE; b++) if (this.counts[b]) out.push([b, this.counts[b] as number]);
    return out;
  }

  /** The q-quantile (0 < q ≤ 1) in µs; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let b = 0; b < SIZE; b++) {
      seen += this.counts[b] as number;
      if (seen >= rank) return bucketValue(b);
    }
    return bucketValue(SIZE - 1);
  }
}
