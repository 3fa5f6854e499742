/**
 * Rolling-origin evaluation: fit on the first part of a series, then forecast one step ahead,
 * observe the truth, and repeat over the held-back rest. Plus MAE and sMAPE.
 */
import type { Forecaster } from './forecaster.ts';

/**
 * Mean absolute error.
 *
 * @example
 * mae([1, 2, 3], [2, 2, 5]); // 1
 */
export function mae(actual: readonly number[], predicted: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < actual.length; i++) s += Math.abs(actual[i]! - predicted[i]!);
  return s / Math.max(actual.length, 1);
}

/**
 * Symmetric MAPE in percent: mean of 2|F − A| / (|A| + |F|), with 0/0 counted as 0 (a correct
 * forecast of an empty interval).
 *
 * @example
 * smape([100], [110]); // ≈ 9.52
 */
export function smape(actual: readonly number[], predicted: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]!) + Math.abs(predicted[i]!);
    s += d === 0 ? 0 : (2 * Math.abs(predicted[i]! - actual[i]!)) / d;
  }
  return (100 * s) / Math.max(actual.length, 1);
}

/** What a rolling evaluation measured. */
export type ForecastScore = {
  name: string;
  mae: number;
  smape: number;
  predictions: number[];
  actual: number[];
};

/**
 * Fits on the first `1 − testFraction` of `series` and scores one-step-ahead forecasts on the rest.
 *
 * @example
 * const score = rollingEvaluate(new NaiveForecaster(), hourly, 0.3);
 */
export function rollingEvaluate(
  forecaster: Forecaster,
  series: readonly number[],
  testFraction = 0.3,
): ForecastScore {
  const split = Math.floor(series.length * (1 - testFraction));
  forecaster.fit(series.slice(0, split));
  const predictions: number[] = [];
  const actual = series.slice(split);
  for (const value of actual) {
    predictions.push(forecaster.forecast(1)[0] ?? 0);
    forecaster.update(value);
  }
  return {
    name: forecaster.name,
    mae: mae(actual, predictions),
    smape: smape(actual, predictions),
    predictions,
    actual,
  };
}

/**
 * Counts of events per interval from `start` (inclusive) in steps of `interval`; the last,
 * partial interval is dropped.
 *
 * @example
 * countPerInterval([0, 10, 65, 130], 60, 0, 180); // [2, 1, 1]
 */
export function countPerInterval(
  times: readonly number[],
  interval: number,
  start: number,
  end: number,
): number[] {
  const n = Math.floor((end - start) / interval);
  const counts = new Array<number>(n).fill(0);
  for (const t of times) {
    const i = Math.floor((t - start) / interval);
    if (i >= 0 && i < n) counts[i]!++;
  }
  return counts;
}
