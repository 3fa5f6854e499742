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
 * 3. *new extreme* — the reading leaves the range seen so far by more than a tolerance;
 * 4. *local spike* (optional, off by default, `spikeWindow`) — distance from the last few readings' mean in their
 *    own deviations, un-averaged, for spikes that stay inside the range;
 * 5. *frozen value* (`flatlineFactor`) — a run of identical readings much longer than
 *    any run seen before (a stuck sensor or a dead exporter repeating its last value).
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
  const local = o.spikeWindow > 1 ? new RollingWindow(o.spikeWindow) : undefined;
  const spikeLikelihood = new AnomalyLikelihood(1, o.likelihoodHistory);
  /** The latest reading's local surprise and the neighbourhood it was measured in. */
  let pending: { mean: number; sd: number; surprise: number } | undefined;
  let largestIsolated = 0;
  let run = 0;
  let longestRun = 0;
  let previous = Number.NaN;
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

      if (local && local.size > 2) {
        // Relative to the local spread, so a spike that would be ordinary on a bursty stretch is
        // ordinary here too; the floor keeps a locally flat stretch from dividing by ~0.
        const localMean = local.mean();
        const localSd = Math.sqrt(local.variance()) + 1e-9 + Math.abs(localMean) * 1e-3 + sd * 0.05;
        const localSurprise = Math.abs(value - localMean) / localSd;
        if (o.spikeTolerance > 0) {
          // Scored un-averaged through its own likelihood, on a log scale: raw surprises are
          // heavy-tailed, and a Gaussian fitted to them would call every burst of a bursty series rare.
          const spike = spikeLikelihood.update(Math.log1p(localSurprise), active);
          if (spike >= 1 - o.spikeTolerance) score = Math.max(score, spike);
        }
        if (o.isolatedSpikeFactor > 0 && pending !== undefined) {
          // The previous reading was an isolated spike if this one is back near the neighbourhood
          // it left: its surprise minus how far this reading still is, in that neighbourhood's
          // deviations. A record of that, by a factor, scores 1 (one reading late). Records of a
          // steady series thin out like 1/n, and a bursty series sets high records early, so its
          // ordinary bursts do not page; a level shift is not isolated, so it does not count here.
          const back = Math.abs(value - pending.mean) / pending.sd;
          const isolated = back < 0.5 * pending.surprise ? pending.surprise - back : 0;
          if (active && isolated > o.isolatedSpikeFactor * largestIsolated) score = 1;
          if (isolated > largestIsolated) largestIsolated = isolated;
        }
        pending = { mean: localMean, sd: localSd, surprise: localSurprise };
      }
      local?.push(value);
      if (o.flatlineFactor > 0) {
        if (value === previous) run++;
        else {
          if (run > longestRun) longestRun = run;
          run = 0;
        }
        previous = value;
        // Fires once, on the reading that makes the run implausibly long for this series.
        if (active && run === Math.max(o.flatlineMinRun, Math.ceil(o.flatlineFactor * longestRun))) score = 1;
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
