import type { DetectorOptions } from './constants.ts';
import { createAnomalyDetector } from './createAnomalyDetector.ts';

/**
 * Scores a whole series with a fresh {@link createAnomalyDetector}; score `i` depends only on
 * `values[0..i]`, exactly as if the readings had streamed in.
 *
 * @example
 * const scores = detectAnomalies(series.values);
 * const alerts = scores.flatMap((s, i) => (s >= 0.9 ? [i] : []));
 */
export function detectAnomalies(values: readonly number[], options: Partial<DetectorOptions> = {}): number[] {
  const det = createAnomalyDetector(options);
  return values.map((v) => det.update(v));
}
