/**
 * A deterministic two-way split of the NAB corpus, so detector options can be tuned on one half
 * and reported on the other. The half of a file depends only on its name (FNV-1a 32-bit hash of
 * the path relative to `data/`, e.g. `realKnownCause/nyc_taxi.csv`, even → tuning, odd →
 * held out): adding or removing files never moves the others, and anyone can recompute it.
 */
import { normalizeScore } from './normalizeScore.ts';
import { optimizeThreshold } from './optimizeThreshold.ts';
import { scoreCorpus } from './scoreCorpus.ts';
import type { CostMatrix, LabelledSeries } from './types.ts';

/**
 * FNV-1a 32-bit hash of a string's UTF-16 code units (all NAB names are ASCII).
 *
 * @example
 * fnv1a(''); // 2166136261
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Which half a NAB file belongs to.
 *
 * @example
 * nabHalf('realKnownCause/nyc_taxi.csv'); // 'tuning' or 'heldOut', the same on every machine
 */
export function nabHalf(name: string): 'tuning' | 'heldOut' {
  return fnv1a(name) % 2 === 0 ? 'tuning' : 'heldOut';
}

/**
 * Splits series into the tuning and the held-out half.
 *
 * @example
 * const { tuning, heldOut } = splitNabCorpus(corpus.series);
 */
export function splitNabCorpus<T extends { name: string }>(
  series: readonly T[],
): { tuning: T[]; heldOut: T[] } {
  return {
    tuning: series.filter((s) => nabHalf(s.name) === 'tuning'),
    heldOut: series.filter((s) => nabHalf(s.name) === 'heldOut'),
  };
}

/**
 * NAB's normalised score of `series` at a *given* threshold (one chosen elsewhere, e.g. on the
 * tuning half), with the null detector optimised and scored on the same series as NAB does.
 *
 * @example
 * normalizedAtThreshold(heldOut, scores, profiles.standard, tuningThreshold);
 */
export function normalizedAtThreshold(
  series: readonly LabelledSeries[],
  scores: ReadonlyMap<string, readonly number[]>,
  cost: CostMatrix,
  threshold: number,
): number {
  const nullScores = new Map(series.map((s) => [s.name, new Array<number>(s.timestamps.length).fill(0.5)]));
  const nullThreshold = optimizeThreshold(series, nullScores, cost).threshold;
  const nullScore = scoreCorpus(series, nullScores, cost, nullThreshold).totals.score;
  const raw = scoreCorpus(series, scores, cost, threshold).totals.score;
  const perfect = series.reduce((n, s) => n + s.windows.length, 0) * cost.tpWeight;
  return normalizeScore(raw, nullScore, perfect);
}
