import type { AnomalyPoint, ThresholdScore } from './types.ts';

/**
 * Port of NAB's `Sweeper.calcScoreByThreshold`: sweeps the alert threshold from above the
 * highest anomaly score down through every distinct score and returns the score and counts at
 * each step, highest threshold first (the first row, threshold 1.1, has no alerts at all).
 * A row counts as an alert at threshold `x` when its anomaly score is `>= x`. Each window earns
 * only its best (earliest) detection; an undetected window costs `fnWeight`; every alert outside
 * windows adds its (negative) sweep score.
 *
 * Pass the points of one file to score that file, or of the whole corpus to optimise a threshold.
 *
 * @example
 * const rows = scoresByThreshold(sweepScores(ts, scores, windows, 'a.csv', standard), standard.fnWeight);
 * rows[0].threshold; // 1.1
 */
export function scoresByThreshold(points: readonly AnomalyPoint[], fnWeight: number): ThresholdScore[] {
  // Stable sort, highest score first, like Python's sorted(..., reverse=True).
  const scorable = points
    .filter((p) => p.windowName !== 'probationary')
    .sort((a, b) => b.anomalyScore - a.anomalyScore);

  // Insertion order matters only for the order of float additions; NAB's dict starts with "fp".
  const parts = new Map<string, number>([['fp', 0]]);
  for (const p of scorable) if (p.windowName !== null) parts.set(p.windowName, -fnWeight);
  // Arrays instead of the dict: the corpus sweep saves a total at every distinct score.
  const windowIndex = new Map<string, number>([...parts.keys()].slice(1).map((w, i) => [w, i]));
  const windowBest = new Float64Array(windowIndex.size).fill(-fnWeight);
  let fpSum = 0;
  const total = (): number => {
    let s = fpSum;
    for (let w = 0; w < windowBest.length; w++) s += windowBest[w]!;
    return s;
  };

  let tn = 0;
  let fn = 0;
  for (const p of scorable) {
    if (p.windowName === null) tn++;
    else fn++;
  }
  let tp = 0;
  let fp = 0;
  let threshold = 1.1;
  const out: ThresholdScore[] = [];
  const save = (): void => {
    out.push({ threshold, score: total(), tp, tn, fp, fn, total: tp + tn + fp + fn });
  };

  for (const p of scorable) {
    if (p.anomalyScore !== threshold) {
      save();
      threshold = p.anomalyScore;
    }
    if (p.windowName === null) {
      fp++;
      tn--;
      fpSum += p.sweepScore;
    } else {
      tp++;
      fn--;
      const w = windowIndex.get(p.windowName)!;
      windowBest[w] = Math.max(windowBest[w]!, p.sweepScore);
    }
  }
  save();
  return out;
}
