import { AnomalyLikelihood } from './AnomalyLikelihood.ts';
import { DEFAULT_DETECTOR_OPTIONS, type DetectorOptions } from './constants.ts';
import { RollingWindow } from './RollingWindow.ts';
import { SubsequenceMemory } from './SubsequenceMemory.ts';

/** A streaming detector: feed readings in time order, get an anomaly score in [0, 1] for each. */
export type AnomalyDetector = {
  /** Scores a reading using only the readings before it, then learns from it. */
  update(value: number): number;
};

/**
 * Creates Plexus's streaming anomaly detector. Three causal views of the series are combined:
 *
 * 1. *point surprise* — distance of the reading from the rolling mean in rolling deviations;
 * 2. *shape surprise* — distance of the latest stretch from its nearest past stretch (optionally
 *    at two lengths);
 * 3. *new extreme* — the reading leaves the range seen so far by more than a tolerance.
 *
 * The first two go through an {@link AnomalyLikelihood} each, so a score means "this is rare for
 * this series"; a new extreme scores 1. After an alert the score is damped for a refractory
 * period, because one incident should page once. Deterministic: no randomness anywhere.
 *
 * @example
 * const det = createAnomalyDetector();
 * const scores = readings.map((r) => det.update(r.value));
 */
export function createAnomalyDetector(options: Partial<DetectorOptions> = {}): AnomalyDetector {
  const o: DetectorOptions = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
  const window = new RollingWindow(o.valueWindow);
  const pointLikelihood = new AnomalyLikelihood(o.likelihoodAverage, o.likelihoodHistory);
  const shapeLikelihood = new AnomalyLikelihood(1, o.likelihoodHistory);
  const shapes = new SubsequenceMemory({
    length: o.shapeLength,
    segments: o.shapeSegments,
    capacity: o.shapeMemory,
  });
  const longShapes =
    o.longShapeLength > 0
      ? new SubsequenceMemory({
          length: o.longShapeLength,
          segments: o.shapeSegments,
          capacity: o.shapeMemory,
        })
      : undefined;
  const longShapeLikelihood = new AnomalyLikelihood(1, o.likelihoodHistory);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let step = 0;
  let lastAlert = Number.NEGATIVE_INFINITY;

  return {
    update(value: number): number {
      if (!Number.isFinite(value)) return 0;
      const active = step >= o.learningPeriod;
      const mean = window.mean();
      const sd = Math.sqrt(window.variance());
      // The small floor keeps a flat series from turning float noise into huge surprises.
      const surprise =
        window.size > 1
          ? Math.min(o.surpriseCap, Math.abs(value - mean) / (sd + 1e-9 + Math.abs(mean) * 1e-3))
          : 0;
      let score = pointLikelihood.update(surprise, active);

      const distance = shapes.push(value, max - min);
      if (distance !== undefined) {
        score = Math.max(score, shapeLikelihood.update(distance ** o.shapeDistancePower, active));
      }
      const longDistance = longShapes?.push(value, max - min);
      if (longDistance !== undefined) {
        score = Math.max(score, longShapeLikelihood.update(longDistance ** o.shapeDistancePower, active));
      }

      if (active && max > min) {
        const tolerance = (max - min) * o.extremeTolerance;
        if (value > max + tolerance || value < min - tolerance) score = 1;
      }
      if (value > max) max = value;
      if (value < min) min = value;
      window.push(value);

      const since = step - lastAlert;
      if (since < o.refractoryPeriod) score *= (since / o.refractoryPeriod) * 0.5;
      if (score >= o.alertLevel) lastAlert = step;
      step++;
      return Math.min(1, score);
    },
  };
}
