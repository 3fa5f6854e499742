/**
 * Additive Holt-Winters (level, trend, seasonal), with smoothing parameters picked by grid search
 * on one-step-ahead squared error over the fitted history. Kept as a reference: on the Philly
 * hourly arrivals it does not beat the naive forecast (the observation, reproduced by
 * `npm run bench -- forecast`).
 */
import type { Forecaster } from './forecaster.ts';

/**
 * @example
 * const hw = new HoltWintersForecaster(24);
 * hw.fit(hourlyCounts);
 * hw.forecast(24);
 */
export class HoltWintersForecaster implements Forecaster {
  readonly name: string;
  readonly #m: number;
  #alpha = 0.3;
  #beta = 0.05;
  #gamma = 0.1;
  #level = 0;
  #trend = 0;
  #season: number[] = [];
  #t = 0;

  constructor(period: number) {
    this.#m = period;
    this.name = `holt-winters(${period})`;
  }

  fit(series: readonly number[]): void {
    let best = Number.POSITIVE_INFINITY;
    const grid = [0.05, 0.1, 0.2, 0.4, 0.7];
    const trendGrid = [0, 0.01, 0.05, 0.2];
    for (const a of grid) {
      for (const b of trendGrid) {
        for (const g of grid) {
          const sse = this.#run(series, a, b, g);
          if (sse < best) {
            best = sse;
            this.#alpha = a;
            this.#beta = b;
            this.#gamma = g;
          }
        }
      }
    }
    this.#run(series, this.#alpha, this.#beta, this.#gamma);
  }

  update(value: number): void {
    this.#step(value, this.#alpha, this.#beta, this.#gamma);
  }

  forecast(h: number): number[] {
    return Array.from({ length: h }, (_, i) =>
      Math.max(0, this.#level + (i + 1) * this.#trend + (this.#season[(this.#t + i) % this.#m] ?? 0)),
    );
  }

  /** Initialises from the first season and replays the series; returns one-step SSE. */
  #run(series: readonly number[], a: number, b: number, g: number): number {
    const m = this.#m;
    const first = series.slice(0, m);
    const mean = first.reduce((s, x) => s + x, 0) / Math.max(first.length, 1);
    this.#level = mean;
    this.#trend = 0;
    this.#season = Array.from({ length: m }, (_, i) => (first[i] ?? mean) - mean);
    this.#t = 0;
    let sse = 0;
    for (let i = 0; i < series.length; i++) {
      const x = series[i]!;
      if (i >= m) {
        const e = x - (this.#level + this.#trend + this.#season[this.#t % m]!);
        sse += e * e;
      }
      this.#step(x, a, b, g);
    }
    return sse;
  }

  #step(x: number, a: number, b: number, g: number): void {
    const m = this.#m;
    const s = this.#season[this.#t % m] ?? 0;
    const prevLevel = this.#level;
    this.#level = a * (x - s) + (1 - a) * (this.#level + this.#trend);
    this.#trend = b * (this.#level - prevLevel) + (1 - b) * this.#trend;
    this.#season[this.#t % m] = g * (x - this.#level) + (1 - g) * s;
    this.#t++;
  }
}
