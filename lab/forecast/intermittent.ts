/**
 * Forecasters for intermittent demand: counts that are often zero (a Philly cluster's hourly
 * arrivals, requests per minute of a quiet service). A level-type model smears the rare bursts
 * over every interval and never forecasts an empty one; these models keep the *probability* of a
 * non-empty interval apart from the *size* of a non-empty one.
 *
 * - TSB (Teunter, Syntetos & Babai 2011): the probability is smoothed every interval (so it
 *   decays through a long quiet spell, unlike Croston's), the size only when demand occurs.
 * - SBA (Syntetos–Boylan approximation of Croston): size and inter-demand interval smoothed at
 *   each demand, mean = (1 − α/2) · size / interval.
 *
 * Both give the *mean* demand per interval. MAE rewards the median instead, and for a count that
 * is empty more often than not the median is 0, so `output: 'median'` (the default) forecasts 0
 * when the probability of demand is below one half and the typical size otherwise.
 */
import type { Forecaster } from './forecaster.ts';

/** Options of {@link IntermittentForecaster}. */
export type IntermittentOptions = {
  /** `tsb` (default) or `sba`. */
  method?: 'tsb' | 'sba';
  /** Smoothing of the demand size. Default 0.2. */
  alpha?: number;
  /** Smoothing of the demand probability (TSB) or interval (SBA). Default 0.1. */
  beta?: number;
  /** `median` (default: zero-capable, what MAE rewards) or `mean` (expected demand). */
  output?: 'median' | 'mean';
};

/**
 * @example
 * const f = new IntermittentForecaster();
 * f.fit([0, 0, 3, 0, 0, 0, 2, 0, 0, 0]);
 * f.forecast(1); // [0]: demand occurs in fewer than half the intervals
 */
export class IntermittentForecaster implements Forecaster {
  readonly name: string;
  readonly #method: 'tsb' | 'sba';
  readonly #alpha: number;
  readonly #beta: number;
  readonly #output: 'median' | 'mean';
  #size = 0;
  #prob = 0;
  #interval = 1;
  #sinceDemand = 1;
  #seen = false;

  constructor(opts: IntermittentOptions = {}) {
    this.#method = opts.method ?? 'tsb';
    this.#alpha = opts.alpha ?? 0.2;
    this.#beta = opts.beta ?? 0.1;
    this.#output = opts.output ?? 'median';
    this.name = `${this.#method}-${this.#output}`;
  }

  fit(series: readonly number[]): void {
    this.#size = 0;
    this.#prob = 0;
    this.#interval = 1;
    this.#sinceDemand = 1;
    this.#seen = false;
    // Initialise from the history's own rates rather than from the first value, which for an
    // intermittent series is usually an arbitrary zero.
    const nonZero = series.filter((x) => x > 0);
    if (nonZero.length > 0) {
      this.#size = nonZero.reduce((a, b) => a + b, 0) / nonZero.length;
      this.#prob = nonZero.length / series.length;
      this.#interval = series.length / nonZero.length;
      this.#seen = true;
    }
    for (const x of series) this.update(x);
  }

  update(value: number): void {
    const x = Math.max(0, value);
    const demand = x > 0;
    if (demand && !this.#seen) {
      this.#size = x;
      this.#prob = 1;
      this.#seen = true;
    }
    if (this.#method === 'tsb') {
      this.#prob += this.#beta * ((demand ? 1 : 0) - this.#prob);
      if (demand) this.#size += this.#alpha * (x - this.#size);
      return;
    }
    if (demand) {
      this.#size += this.#alpha * (x - this.#size);
      this.#interval += this.#beta * (this.#sinceDemand - this.#interval);
      this.#sinceDemand = 1;
    } else {
      this.#sinceDemand++;
    }
  }

  /** Probability that the next interval holds any demand. */
  probability(): number {
    if (!this.#seen) return 0;
    return this.#method === 'tsb' ? this.#prob : Math.min(1, 1 / Math.max(this.#interval, 1));
  }

  forecast(h: number): number[] {
    const p = this.probability();
    let value: number;
    if (this.#output === 'median') value = p < 0.5 ? 0 : Math.round(this.#size);
    else if (this.#method === 'tsb') value = p * this.#size;
    else value = ((1 - this.#beta / 2) * this.#size) / Math.max(this.#interval, 1);
    return Array.from({ length: h }, () => value);
  }
}
