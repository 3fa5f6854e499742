/**
 * Small, robust candidate models for {@link RobustForecaster}: each is cheap, has at most one
 * knob, and is hard to make diverge. On noisy counts they often beat the last value simply by
 * averaging its noise away; the selector decides per series, on data the model has not seen.
 */
import type { Forecaster } from './forecaster.ts';

/** Median of a small array (copy sorted; the windows here are a handful of values). */
function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A forecaster that keeps its whole history and forecasts from it with `next(history)`. */
abstract class HistoryForecaster implements Forecaster {
  abstract readonly name: string;
  protected history: number[] = [];

  fit(series: readonly number[]): void {
    this.history = [...series];
  }

  update(value: number): void {
    this.history.push(value);
  }

  forecast(h: number): number[] {
    // Recursive: each step is appended as if observed, then rolled back.
    const out: number[] = [];
    for (let i = 0; i < h; i++) {
      const v = this.next(this.history);
      out.push(v);
      this.history.push(v);
    }
    this.history.length -= h;
    return out;
  }

  protected abstract next(history: readonly number[]): number;
}

/**
 * Median of the last `k` values: the last value with its single-interval noise voted down.
 *
 * @example
 * const f = new MovingMedianForecaster(3);
 * f.fit([5, 40, 6]);
 * f.forecast(1); // [6]
 */
export class MovingMedianForecaster extends HistoryForecaster {
  readonly name: string;
  readonly #k: number;

  constructor(k: number) {
    super();
    this.#k = k;
    this.name = `moving-median(${k})`;
  }

  protected next(history: readonly number[]): number {
    return median(history.slice(-this.#k));
  }
}

/**
 * Median of the same phase over the last `seasons` seasons: seasonal naive with a vote, so one
 * unusual day does not repeat itself the next day.
 *
 * @example
 * const f = new SeasonalMedianForecaster(2, 3);
 * f.fit([1, 10, 2, 11, 9, 12]);
 * f.forecast(1); // [2]: median of 1, 2, 9
 */
export class SeasonalMedianForecaster extends HistoryForecaster {
  readonly name: string;
  readonly #period: number;
  readonly #seasons: number;

  constructor(period: number, seasons = 3) {
    super();
    this.#period = period;
    this.#seasons = seasons;
    this.name = `seasonal-median(${period}x${seasons})`;
  }

  protected next(history: readonly number[]): number {
    const same: number[] = [];
    for (let k = 1; k <= this.#seasons; k++) {
      const v = history[history.length - k * this.#period];
      if (v !== undefined) same.push(v);
    }
    return same.length > 0 ? median(same) : (history.at(-1) ?? 0);
  }
}

/**
 * Last value plus last season's step at this phase: x[t−1] + (x[t−p] − x[t−p−1]). Follows a daily
 * ramp a step earlier than naive does, from the level the series is at now.
 *
 * @example
 * const f = new SeasonalStepForecaster(2);
 * f.fit([1, 5, 2, 6, 3]);
 * f.forecast(1); // [7]: 3 + (6 − 2)
 */
export class SeasonalStepForecaster extends HistoryForecaster {
  readonly name: string;
  readonly #period: number;

  constructor(period: number) {
    super();
    this.#period = period;
    this.name = `seasonal-step(${period})`;
  }

  protected next(history: readonly number[]): number {
    const n = history.length;
    const a = history[n - this.#period];
    const b = history[n - this.#period - 1];
    const last = history.at(-1) ?? 0;
    return a !== undefined && b !== undefined ? last + (a - b) : last;
  }
}

/**
 * Simple exponential smoothing with a fixed α: a level that forgets at rate α.
 *
 * @example
 * const f = new SesForecaster(0.5);
 * f.fit([0, 10]);
 * f.forecast(1); // [5]
 */
export class SesForecaster implements Forecaster {
  readonly name: string;
  readonly #alpha: number;
  #level: number | undefined;

  constructor(alpha: number) {
    this.#alpha = alpha;
    this.name = `ses(${alpha})`;
  }

  fit(series: readonly number[]): void {
    this.#level = undefined;
    for (const x of series) this.update(x);
  }

  update(value: number): void {
    this.#level = this.#level === undefined ? value : this.#level + this.#alpha * (value - this.#level);
  }

  forecast(h: number): number[] {
    return Array.from({ length: h }, () => this.#level ?? 0);
  }
}
