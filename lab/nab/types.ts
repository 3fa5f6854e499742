/**
 * Shared shapes of the NAB scorer port (numenta/NAB at commit ea702d7, `nab/sweeper.py`,
 * `nab/scorer.py`, `nab/optimizer.py`, `nab/runner.py`).
 */

/** Weights of one application profile, as in NAB's `config/profiles.json`. */
export type CostMatrix = {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
  tnWeight: number;
};

/** Profile name → cost matrix (`standard`, `reward_low_FP_rate`, `reward_low_FN_rate`). */
export type Profiles = Record<string, CostMatrix>;

/** One labelled anomaly window as epoch milliseconds, both ends inclusive. */
export type Window = readonly [start: number, end: number];

/**
 * One scored row (NAB `AnomalyPoint`). `windowName` is `null` outside any window and
 * `'probationary'` for rows inside the probation period, exactly as NAB marks them.
 */
export type AnomalyPoint = {
  timestamp: number;
  anomalyScore: number;
  sweepScore: number;
  windowName: string | null;
};

/** The score of a whole data set or corpus when every row with `anomalyScore >= threshold` alerts. */
export type ThresholdScore = {
  threshold: number;
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
  total: number;
};

/** One data file of the corpus: its timestamps (epoch ms) and labelled windows. */
export type LabelledSeries = {
  /** Path relative to the corpus `data/` folder, e.g. `realKnownCause/nyc_taxi.csv`. */
  name: string;
  timestamps: number[];
  values: number[];
  windows: Window[];
};
