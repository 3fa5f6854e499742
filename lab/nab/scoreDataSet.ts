import { scoresByThreshold } from './scoresByThreshold.ts';
import { sweepScores } from './sweepScores.ts';
import type { CostMatrix, ThresholdScore, Window } from './types.ts';

/** What {@link scoreDataSet} returns. */
export type ScoreDataSetResult = {
  /** The per-row sweep scores (NAB returns these for its results files). */
  sweepScores: number[];
  /** Score and counts when every row with `anomalyScore >= threshold` alerts. */
  result: ThresholdScore;
};

/**
 * Port of NAB's `Sweeper.scoreDataSet`: scores one file at a fixed threshold by picking the
 * sweep row for that threshold (or, between two distinct scores, the row just above it).
 *
 * One deliberate difference: NAB leaves the row empty (and then crashes) when the threshold is
 * below every anomaly score of the file; here the last row — every scorable row alerting — is
 * returned, which is what that threshold means.
 *
 * @example
 * const { result } = scoreDataSet(ts, scores, windows, 'realKnownCause/nyc_taxi.csv', standard, 1.0);
 * result.score; // -5 for the Windowed Gaussian golden file
 */
export function scoreDataSet(
  timestamps: readonly number[],
  anomalyScores: readonly number[],
  windows: readonly Window[],
  dataSetName: string,
  cost: CostMatrix,
  threshold: number,
  probationPercent?: number,
): ScoreDataSetResult {
  const points = sweepScores(timestamps, anomalyScores, windows, dataSetName, cost, probationPercent);
  const rows = scoresByThreshold(points, cost.fnWeight);
  let match: ThresholdScore | undefined;
  let prev: ThresholdScore | undefined;
  for (const row of rows) {
    if (row.threshold === threshold) {
      match = row;
      break;
    }
    if (row.threshold < threshold) {
      match = prev;
      break;
    }
    prev = row;
  }
  return { sweepScores: points.map((p) => p.sweepScore), result: match ?? prev ?? rows[0]! };
}
