import { probationaryLength } from './probationaryLength.ts';
import type { CostMatrix, Window } from './types.ts';

/**
 * The per-row breakdown NAB writes into results files as `S(t)_<profile>` (port of the
 * `Scorer.getScore` that produced the published per-row columns): each window's reward — its
 * earliest alert's scaled sigmoid, or `-fnWeight` when missed — sits on the window's first row,
 * and each false positive's penalty on its own row. The column sums to the file's score.
 *
 * @example
 * const st = scoreContributions(ts, scores, windows, profiles.standard, 1.0);
 * st.reduce((a, b) => a + b, 0); // the file's NAB score at threshold 1.0
 */
export function scoreContributions(
  timestamps: readonly number[],
  anomalyScores: readonly number[],
  windows: readonly Window[],
  cost: CostMatrix,
  threshold: number,
  probationPercent?: number,
): number[] {
  const n = timestamps.length;
  const probation = probationaryLength(n, probationPercent);
  const out = new Array<number>(n).fill(0);
  const spans = windows.map(([t1, t2]) => {
    let first = -1;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const t = timestamps[i]!;
      if (t >= t1 && t <= t2) {
        if (first < 0) first = i;
        last = i;
      }
    }
    return { first, last, length: first < 0 ? 0 : last - first + 1 };
  });
  const inWindow = new Uint8Array(n);
  for (const s of spans) for (let i = s.first; s.first >= 0 && i <= s.last; i++) inWindow[i] = 1;
  const alert = (i: number): boolean => i >= probation && anomalyScores[i]! >= threshold;

  const maxTP = legacySigmoid(-1.0);
  for (const s of spans) {
    if (s.first < 0) continue;
    let tpIndex = -1;
    for (let i = s.first; i <= s.last; i++) {
      if (alert(i)) {
        tpIndex = i;
        break;
      }
    }
    out[s.first] =
      tpIndex < 0
        ? -cost.fnWeight
        : (legacySigmoid(-(s.last - tpIndex + 1) / s.length) * cost.tpWeight) / maxTP;
  }
  for (let i = 0; i < n; i++) {
    if (inWindow[i] === 1 || !alert(i)) continue;
    let closest: (typeof spans)[number] | undefined;
    for (const s of spans) {
      if (s.first >= 0 && s.last < i && (closest === undefined || i - s.last < i - closest.last)) closest = s;
    }
    out[i] =
      closest === undefined
        ? -cost.fpWeight
        : legacySigmoid(Math.abs(closest.last - i) / (closest.length - 1)) * cost.fpWeight;
  }
  return out;
}

/**
 * The older scorer cut the sigmoid to -1 only strictly beyond 3 window lengths (the sweeper uses
 * `>= 3`); kept so this breakdown matches the published per-row columns to the last digit.
 */
function legacySigmoid(x: number): number {
  if (x > 3.0) return -1.0;
  return 2 / (1 + Math.exp(5 * x)) - 1.0;
}
