/**
 * The Plexus arrival forecaster: a ridge-regularised autoregression on log(1 + count).
 *
 * Job arrivals are bursty (a hyper-parameter sweep drops hundreds of jobs into one hour), so the
 * last value is a noisy estimate of the next and a smoothed level alone misses the daily cycle.
 * Working in log space tames the bursts; the regression then learns, from the history itself,
 * how much to trust the last values, short and long moving averages, an exponentially weighted
 * level, and the same phase of past seasons. λ is chosen on the last fifth of the history
 * (time-ordered validation, never shuffled), and the model is refitted every `refitEvery` new
 * values, so the forecast stays online. Forecasts are exp(ŷ) − 1: a median-type forecast, which
 * is what MAE rewards, rounded to a whole count.
 */

import { mae, smape } from './evaluateForecast.ts';
import type { Forecaster } from './forecaster.ts';
import { fitRidge } from './ridge.ts';

/** Options of {@link ArrivalForecaster}. */
export type ArrivalForecasterOptions = {
  /** Season length in steps (24 for hourly data with a daily cycle); 0 for none. */
  period?: number;
  /** Past seasons averaged at the same phase. Default 4 (ignored without a period). */
  seasons?: number;
  /** Refit after this many updates. Default 24. */
  refitEvery?: number;
  /** Candidate ridge penalties. */
  lambdas?: readonly number[];
};

const EWMA_ALPHA = 0.3;

/**
 * @example
 * const f = new ArrivalForecaster({ period: 24 });
 * f.fit(hourlyArrivals);
 * const next = f.forecast(1)[0];
 */
export class ArrivalForecaster implements Forecaster {
  readonly name = 'plexus-ar';
  readonly #period: number;
  readonly #seasons: number;
  readonly #refitEvery: number;
  readonly #lambdas: readonly number[];
  #z: number[] = [];
  #ewma: number[] = [];
  #beta: number[] = [];
  /** Log-space calibration shift chosen on the validation slice (see #refit). */
  #offset = 0;
  #sinceFit = 0;

  constructor(opts: ArrivalForecasterOptions = {}) {
    this.#period = opts.period ?? 0;
    this.#seasons = opts.seasons ?? 4;
    this.#refitEvery = opts.refitEvery ?? 24;
    this.#lambdas = opts.lambdas ?? [0.1, 1, 10, 100];
  }

  fit(series: readonly number[]): void {
    this.#z = [];
    this.#ewma = [];
    for (const x of series) this.#push(x);
    this.#refit();
  }

  update(value: number): void {
    this.#push(value);
    if (++this.#sinceFit >= this.#refitEvery) this.#refit();
  }

  forecast(h: number): number[] {
    // Recursive multi-step: each step's forecast is fed back as if observed, then rolled back.
    const z = this.#z;
    const e = this.#ewma;
    const out: number[] = [];
    for (let i = 0; i < h; i++) {
      const x = this.#features(z, e, z.length);
      const zHat = x && this.#beta.length === x.length ? dot(this.#beta, x) : (z.at(-1) ?? 0);
      // Counts are integers and the median of a count is one: an empty hour is forecast as 0,
      // not 0.7 (which sMAPE scores as a 200% miss).
      out.push(Math.max(0, Math.round(Math.expm1(zHat + this.#offset))));
      z.push(zHat);
      e.push(EWMA_ALPHA * zHat + (1 - EWMA_ALPHA) * (e.at(-1) ?? zHat));
    }
    z.length -= h;
    e.length -= h;
    return out;
  }

  /** Steps of history a feature row needs. */
  #minHistory(): number {
    return Math.max(24, this.#period > 0 ? this.#period * this.#seasons : 0);
  }

  #push(x: number): void {
    const z = Math.log1p(Math.max(0, x));
    this.#z.push(z);
    this.#ewma.push(EWMA_ALPHA * z + (1 - EWMA_ALPHA) * (this.#ewma.at(-1) ?? z));
  }

  /** Features for predicting z[t] from z[0..t-1]; undefined when history is too short. */
  #features(z: readonly number[], e: readonly number[], t: number): number[] | undefined {
    const need = Math.min(this.#minHistory(), Math.max(3, t));
    if (t < 3 || t < need) return undefined;
    const mean = (k: number): number => {
      const n = Math.min(k, t);
      let s = 0;
      for (let i = 1; i <= n; i++) s += z[t - i]!;
      return s / n;
    };
    let zeros = 0;
    for (let i = 1; i <= Math.min(24, t); i++) if (z[t - i] === 0) zeros++;
    // Quiet spells (empty hours) persist: the last value's emptiness and the recent share of
    // empty intervals let the fit forecast a clean 0 instead of a small positive number.
    const row = [
      1,
      z[t - 1]!,
      z[t - 2]!,
      z[t - 3]!,
      mean(6),
      mean(24),
      e[t - 1]!,
      z[t - 1] === 0 ? 1 : 0,
      zeros / 24,
    ];
    if (this.#period > 0) {
      let s = 0;
      let n = 0;
      for (let k = 1; k <= this.#seasons && t - k * this.#period >= 0; k++) {
        s += z[t - k * this.#period]!;
        n++;
      }
      row.push(n > 0 ? (z[t - this.#period] ?? s / n) : row[1]!, n > 0 ? s / n : row[1]!);
    }
    return row;
  }

  #refit(): void {
    this.#sinceFit = 0;
    const z = this.#z;
    const rows: number[][] = [];
    const ys: number[] = [];
    for (let t = 3; t < z.length; t++) {
      const x = this.#features(z, this.#ewma, t);
      if (!x) continue;
      rows.push(x);
      ys.push(z[t]!);
    }
    if (rows.length < 8) {
      this.#beta = [];
      return;
    }
    // Pick λ (by MAE) and then a calibration shift of the log forecast (by sMAPE of the rounded
    // counts) on the last fifth of the history, fitted on the four fifths before it; the
    // regression targets the mean of log counts, which for bursty counts sits off the point that
    // scores best, and by how much is a property of the series, so it is learned, not assumed.
    const cut = Math.floor(rows.length * 0.8);
    const valRows = rows.slice(cut);
    const valY = ys.slice(cut).map((z) => Math.expm1(z));
    let bestLambda = this.#lambdas[0] ?? 1;
    let bestBeta: number[] = [];
    let bestErr = Number.POSITIVE_INFINITY;
    for (const lambda of this.#lambdas) {
      const beta = fitRidge(rows.slice(0, cut), ys.slice(0, cut), lambda);
      const err = mae(
        valY,
        valRows.map((x) => Math.expm1(dot(beta, x))),
      );
      if (err < bestErr) {
        bestErr = err;
        bestLambda = lambda;
        bestBeta = beta;
      }
    }
    let bestShift = 0;
    let bestSmape = Number.POSITIVE_INFINITY;
    for (let shift = -0.3; shift <= 0.3001; shift += 0.05) {
      const pred = valRows.map((x) => Math.max(0, Math.round(Math.expm1(dot(bestBeta, x) + shift))));
      const score = smape(valY, pred);
      if (score < bestSmape - 1e-9) {
        bestSmape = score;
        bestShift = shift;
      }
    }
    this.#offset = bestShift;
    this.#beta = fitRidge(rows, ys, bestLambda);
  }
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
