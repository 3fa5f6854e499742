/**
 * Defaults of the anomaly detector. They are global: one set for every series, never per file,
 * and the detector only ever sees past readings. The original options were chosen on the NAB
 * corpus as a whole; the frozen-value and spike options (issue 23) on its tuning half only
 * (lab/nab/splitCorpus.ts).
 *
 * @example
 * createAnomalyDetector({ ...DEFAULT_DETECTOR_OPTIONS, shapeMemory: 500 }); // cheaper, less recall
 */
export const DEFAULT_DETECTOR_OPTIONS = {
  /** Readings before the detector may alert (it still learns from them). */
  learningPeriod: 300,
  /** Window of the rolling mean / deviation that point surprise is measured against. */
  valueWindow: 500,
  /** Cap on the point surprise, in deviations, so one wild reading cannot dominate the history. */
  surpriseCap: 5,
  /** Moving-average window of the point surprise before the likelihood (Numenta uses 10). */
  likelihoodAverage: 30,
  /** History window of the likelihood's Gaussian. */
  likelihoodHistory: 2000,
  /** A reading beyond the range seen so far by more than this share of it is a new extreme. */
  extremeTolerance: 0.02,
  /** Length of the stretches compared by shape, and the number of segment means kept of each. */
  shapeLength: 16,
  shapeSegments: 8,
  /** Length of a second, longer shape view (0 turns it off); a multiple of `shapeSegments`. */
  longShapeLength: 64,
  /**
   * Power applied to shape distances before their likelihood: 2 makes it the mean squared
   * segment error, whose heavier tail lets rare shapes stand out of everyday noise.
   */
  shapeDistancePower: 2,
  /** How many past stretches each shape memory keeps. */
  shapeMemory: 4000,
  /** Score at which the detector counts as having alerted, which starts the refractory period. */
  alertLevel: 0.9,
  /** Readings after an alert during which scores are held at most half their value. */
  refractoryPeriod: 100,
  /**
   * Window of the *local* neighbourhood a reading is compared with (0 turns both local views off):
   * its distance from the mean of the last `spikeWindow` readings in their own deviations, so one
   * in-range spike counts relative to how bursty the series is (the point view averages 30
   * readings and caps at 5 deviations).
   */
  spikeWindow: 32,
  /**
   * The local-spike *likelihood* view (log-scaled local surprise through its own likelihood, scored
   * when it reaches `1 − spikeTolerance`); 0 turns it off. Off by default: on the tuning half of
   * NAB it cost 9 points (docs/anomaly.md). `{ spikeTolerance: 1 }` is the earlier option.
   */
  spikeTolerance: 0,
  /**
   * Isolated spikes (0 turns it off; needs `spikeWindow`): a reading that left its neighbourhood,
   * followed by one back near it, whose surprise beats every earlier isolated spike of the series
   * by this factor, scores 1 on the reading after it. Chosen on the tuning half of NAB: 1.5 caught
   * 9 of 24 injected in-range spikes (1 before) for 0.463 → 0.493 false alarms per 1,000 and
   * 67.79 → 67.51 standard; 2 caught 7 for 0.478 and 67.68; 1.2 scored 67.04.
   */
  isolatedSpikeFactor: 1.5,
  /**
   * Frozen values: a run of identical readings alerts once it is `flatlineFactor` times longer
   * than the longest run seen before (and at least `flatlineMinRun`). 0 turns it off. Chosen on
   * the tuning half of NAB (factor 2 or a minimum of 12 cost 2.2 points there; 3 and 30 cost none).
   */
  flatlineFactor: 3,
  flatlineMinRun: 30,
} as const;

/** Options of the anomaly detector (see {@link DEFAULT_DETECTOR_OPTIONS}). */
export type DetectorOptions = { -readonly [K in keyof typeof DEFAULT_DETECTOR_OPTIONS]: number };

/**
 * Anomaly score at which callers should treat a reading as anomalous: the corpus-wide threshold
 * NAB's optimiser picked for the default options under the standard profile (`npm run bench -- nab`).
 *
 * @example
 * const anomalous = detectAnomalies(values).map((s) => s >= DEFAULT_ALERT_THRESHOLD);
 */
export const DEFAULT_ALERT_THRESHOLD = 0.9058;
