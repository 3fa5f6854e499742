import { normalizeScore } from './normalizeScore.ts';
import { optimizeThreshold } from './optimizeThreshold.ts';
import { type CorpusScore, scoreCorpus } from './scoreCorpus.ts';
import type { LabelledSeries, Profiles } from './types.ts';

/** The NAB result of one detector under one profile. */
export type ProfileResult = {
  /** Corpus-wide threshold chosen by the optimiser. */
  threshold: number;
  /** Sum of the per-file scores at that threshold. */
  rawScore: number;
  /** The published 0–100 figure. */
  normalizedScore: number;
  /** Raw score of NAB's null detector (constant 0.5), optimised and scored the same way. */
  nullScore: number;
  /** `windowCount * tpWeight`. */
  perfectScore: number;
  table: CorpusScore;
};

/**
 * The anomaly score NAB's null detector gives every row (`null_detector.py`).
 *
 * @example
 * const nullScores = series.map((s) => s.values.map(() => NULL_DETECTOR_SCORE));
 */
export const NULL_DETECTOR_SCORE = 0.5;

/**
 * Runs NAB's optimise → score → normalise steps (`nab/runner.py`) for one detector's anomaly
 * scores under every profile, with the null-detector baseline computed in the same run.
 *
 * @example
 * const results = benchmarkDetector(corpus.series, scoresByFile, corpus.profiles);
 * results.standard.normalizedScore; // 39.65 for Windowed Gaussian
 */
export function benchmarkDetector(
  series: readonly LabelledSeries[],
  anomalyScoresByFile: ReadonlyMap<string, readonly number[]>,
  profiles: Profiles,
  probationPercent?: number,
): Record<string, ProfileResult> {
  const nullScores = new Map(
    series.map((s) => [s.name, new Array<number>(s.timestamps.length).fill(NULL_DETECTOR_SCORE)]),
  );
  const windowCount = series.reduce((n, s) => n + s.windows.length, 0);
  const out: Record<string, ProfileResult> = {};
  for (const [name, cost] of Object.entries(profiles)) {
    const nullThreshold = optimizeThreshold(series, nullScores, cost, probationPercent).threshold;
    const nullScore = scoreCorpus(series, nullScores, cost, nullThreshold, probationPercent).totals.score;
    const threshold = optimizeThreshold(series, anomalyScoresByFile, cost, probationPercent).threshold;
    const table = scoreCorpus(series, anomalyScoresByFile, cost, threshold, probationPercent);
    const perfectScore = windowCount * cost.tpWeight;
    out[name] = {
      threshold,
      rawScore: table.totals.score,
      normalizedScore: normalizeScore(table.totals.score, nullScore, perfectScore),
      nullScore,
      perfectScore,
      table,
    };
  }
  return out;
}
