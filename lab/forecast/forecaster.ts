/**
 * The forecaster interface (fit on history, update with each new value, forecast h steps) and
 * the reference baselines every forecast is compared against: naive (last value) and seasonal
 * naive (the value one season ago).
 */

/**
 * A point forecaster for a univariate series sampled at a fixed interval.
 *
 * @example
 * const f = new NaiveForecaster();
 * f.fit([3, 5, 4]);
 * f.forecast(2); // [4, 4]
 * f.update(7);
 * f.forecast(1); // [7]
 */
export interface Forecaster {
  readonly name: string;
  /** Learns from a history (replacing any earlier one). */
  fit(series: readonly number[]): void;
  /** Appends one newly observed value. */
  update(value: number): void;
  /** The next `h` values. */
  forecast(h: number): number[];
}

/**
 * Forecasts the last observed value.
 *
 * @example
 * const naive = new NaiveForecaster();
 * naive.fit([10, 12]);
 * naive.forecast(1); // [12]
 */
export class NaiveForecaster implements Forecaster {
  readonly name = 'naive';
  #last = 0;

  fit(series: readonly number[]): void {
    this.#last = series.at(-1) ?? 0;
  }

  update(value: number): void {
    this.#last = value;
  }

  forecast(h: number): number[] {
    return Array.from({ length: h }, () => this.#last);
  }
}

/**
 * Forecasts the value one season (`period` steps) earlier.
 *
 * @example
 * const f = new SeasonalNaiveForecaster(24); // hourly data, daily season
 */
export class SeasonalNaiveForecaster implements Forecaster {
  readonly name: string;
  readonly #period: number;
  #history: number[] = [];

  constructor(period: number) {
    this.#period = period;
    this.name = `seasonal-naive(${period})`;
  }

  fit(series: readonly number[]): void {
    this.#history = [...series];
  }

  update(value: number): void {
    this.#history.push(value);
  }

  forecast(h: number): number[] {
    const n = this.#history.length;
    return Array.from({ length: h }, (_, i) => {
      // For i ≥ period the "season ago" value is itself a forecast: the same phase once more back.
      let back = this.#period;
      while (i - back >= 0) back += this.#period;
      return this.#history[n + i - back] ?? this.#history.at(-1) ?? 0;
    });
  }
}
