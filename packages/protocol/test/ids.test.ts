import { describe, expect, it } from 'vitest';
import { ID_PATTERN, isGenerationId, newGenerationId } from '../src/index.js';

describe('generation ids', () => {
  it('match the documented pattern: gen_ and 26 characters of [a-z2-7]', () => {
    for (let i = 0; i < 1_000; i++) {
      const id = newGenerationId();
      expect(id).toMatch(/^gen_[a-z2-7]{26}$/);
      expect(isGenerationId(id)).toBe(true);
    }
    expect(ID_PATTERN.source).toBe('^gen_[a-z2-7]{26}$');
  });

  it('are unique and use the whole alphabet evenly (no fixed or biased positions)', () => {
    const n = 20_000;
    const ids = new Set<string>();
    const counts = new Map<string, number>();
    const perPosition = Array.from({ length: 26 }, () => new Set<string>());
    for (let i = 0; i < n; i++) {
      const id = newGenerationId();
      ids.add(id);
      const body = id.slice(4);
      for (let p = 0; p < body.length; p++) {
        const c = body[p] as string;
        counts.set(c, (counts.get(c) ?? 0) + 1);
        perPosition[p]?.add(c);
      }
    }
    expect(ids.size).toBe(n);
    expect(counts.size).toBe(32);
    const expected = (n * 26) / 32;
    // 520 000 draws: each symbol within ±5 % of its share (far beyond any random deviation).
    for (const c of counts.values()) expect(Math.abs(c - expected) / expected).toBeLessThan(0.05);
    for (const seen of perPosition) expect(seen.size).toBe(32);
  });

  it('rejects anything else before it can reach a key', () => {
    const good = newGenerationId();
    const bad: unknown[] = [
      '',
      'gen_',
      good.toUpperCase(),
      `${good}a`,
      good.slice(0, -1),
      `${good.slice(0, -1)}1`,
      `${good.slice(0, -1)}8`,
      `${good.slice(0, -1)}}`,
      `${good}\n`,
      ` ${good}`,
      `gen-${good.slice(4)}`,
      `tc:{${good}}:meta`,
      `${good.slice(0, 10)}:${good.slice(11)}`,
      null,
      undefined,
      42,
      { id: good },
      [good],
    ];
    for (const v of bad) expect(isGenerationId(v), JSON.stringify(v)).toBe(false);
  });
});
