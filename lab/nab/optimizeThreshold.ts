import { scoresByThreshold } from './scoresByThreshold.ts';
import { sweepScores } from './sweepScores.ts';
import type { CostMatrix, LabelledSeries, ThresholdScore } from './types.ts';

/**
 * Port of NAB's `optimizer.optimizeThreshold` (the sweep version that replaced hill climbing):
 * pools the sweep scores of every file and returns the corpus-wide threshold with the highest
 * total score. Ties go to the highest threshold, as Python's stable sort does.
 *
 * @example
 * const best = optimizeThreshold(corpus.series, scoresByFile, profiles.standard);
 * best.threshold; // e.g. 1.0 for Windowed Gaussian
 */
export function optimizeThreshold(
  series: readonly LabelledSeries[],
  anomalyScoresByFile: ReadonlyMap<string, readonly number[]>,
  cost: CostMatrix,
  probationPercent?: number,
): ThresholdScore {
  const all = series.flatMap((s) =>
    sweepScores(
      s.timestamps,
      scoresFor(anomalyScoresByFile, s.name),
      s.windows,
      s.name,
      cost,
      probationPercent,
    ),
  );
  const rows = scoresByThreshold(all, cost.fnWeight);
  let best = rows[0]!;
  for (const row of rows) if (row.score > best.score) best = row;
  return best;
}

/**
 * The anomaly scores of one file, or an error naming it.
 *
 * @example
 * scoresFor(scoresByFile, 'realKnownCause/nyc_taxi.csv').length; // 10320
 */
export function scoresFor(byFile: ReadonlyMap<string, readonly number[]>, name: string): readonly number[] {
  const s = byFile.get(name);
  if (s === undefined) throw new Error(`no anomaly scores for ${name}`);
  return s;
}
