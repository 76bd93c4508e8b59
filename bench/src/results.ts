import { type Summary, summarize } from './stats.js';

/** One measured repetition: numbers, and the checks that make the numbers believable. */
export interface Run {
  metrics: Record<string, number>;
  checks: {
    clients: number;
    /** Clients that got the whole generation. */
    complete: number;
    /** Every reading client got exactly the text the writer wrote. */
    identical: boolean;
    /** Verifying clients whose protocol parse matched what they counted. */
    verified: number;
    problems: string[];
  };
  /** Redis commands issued during the run, by name (INFO commandstats difference). */
  redisCalls?: Record<string, number>;
}

export interface CaseResult {
  scenario: string;
  /** e.g. "N=1000". */
  label: string;
  params: Record<string, number>;
  peer: string;
  status: 'ok' | 'n/a' | 'failed';
  /** Why n/a, or what failed. */
  note?: string;
  runs: Run[];
  summary: Record<string, Summary>;
}

/** Metrics that only mean something when every client got everything (a time until all have it). */
const NEEDS_COMPLETE: Record<string, string[]> = { late: ['allMs', 'p50Ms'] };

export function finish(c: Omit<CaseResult, 'summary'>): CaseResult {
  const keys = new Set(c.runs.flatMap((r) => Object.keys(r.metrics)));
  const needs = NEEDS_COMPLETE[c.scenario] ?? [];
  const value = (r: Run, k: string) => (needs.includes(k) && r.checks.complete < r.checks.clients ? Number.NaN : (r.metrics[k] ?? Number.NaN));
  const summary: Record<string, Summary> = {};
  for (const k of keys) {
    const s = summarize(c.runs.map((r) => value(r, k)));
    if (s) summary[k] = s;
  }
  return { ...c, summary };
}
