/**
 * The forecasting evaluation set: many series cut from the real traces at several aggregation
 * levels, and a per-series comparison of the Plexus forecaster with naive and seasonal naive.
 * One 18-point test set says little; dozens of series with hundreds of rolling origins say how
 * often a model wins, and by how much it loses where it loses.
 */
import type { LlmRequest } from '../traces/loadAzureLlm.ts';
import type { PhillyJob } from '../traces/loadPhilly.ts';
import { countPerInterval, mae, smape } from './evaluateForecast.ts';
import { type Forecaster, NaiveForecaster, SeasonalNaiveForecaster } from './forecaster.ts';
import { RobustForecaster } from './robustForecaster.ts';

/** One series to forecast one step ahead. */
export type EvaluationSeries = {
  name: string;
  unit: string;
  data: number[];
  /** Season length in steps given to seasonal naive and the Plexus forecaster. */
  period: number;
};

/** Philly aggregation levels: interval in seconds, its name, and the season in intervals. */
const PHILLY_LEVELS = [
  { seconds: 3600, label: '1h', period: 24 },
  { seconds: 6 * 3600, label: '6h', period: 4 },
  { seconds: 86_400, label: '1d', period: 7 },
] as const;

/**
 * Job arrivals of the whole trace and of every virtual cluster, each hourly, 6-hourly and daily,
 * all on the same time grid (from the first submission's hour to the last submission).
 *
 * @example
 * phillySeries(loadPhilly()).length; // (1 + clusters) × 3
 */
export function phillySeries(jobs: readonly PhillyJob[]): EvaluationSeries[] {
  const t0 = Math.floor(jobs[0]!.submit / 3600) * 3600;
  const end = jobs.at(-1)!.submit + 1;
  const clusters = [...new Set(jobs.map((j) => j.cluster))].filter((c) => c !== '').sort();
  const groups: [string, number[]][] = [
    ['all', jobs.map((j) => j.submit)],
    ...clusters.map((c): [string, number[]] => [c, jobs.filter((j) => j.cluster === c).map((j) => j.submit)]),
  ];
  const out: EvaluationSeries[] = [];
  for (const [group, times] of groups) {
    for (const level of PHILLY_LEVELS) {
      out.push({
        name: `philly-${group}-${level.label}`,
        unit: `jobs/${level.label}`,
        data: countPerInterval(times, level.seconds, t0, end),
        period: level.period,
      });
    }
  }
  return out;
}

/**
 * Azure LLM conversation trace (one hour): requests per 5 s, 10 s, 30 s and 60 s, and tokens
 * (context + generated) per 10 s and 60 s. One hour holds no daily cycle; the seasonal baseline
 * uses a 10-minute season, as the benchmark always has.
 *
 * @example
 * azureSeries(loadAzureLlm()).map((s) => s.name); // ['azure-conv-requests-5s', ...]
 */
export function azureSeries(reqs: readonly LlmRequest[]): EvaluationSeries[] {
  const start = reqs[0]!.atMs;
  const end = reqs.at(-1)!.atMs + 1;
  const out: EvaluationSeries[] = [];
  for (const s of [5, 10, 30, 60]) {
    out.push({
      name: `azure-conv-requests-${s}s`,
      unit: `requests/${s}s`,
      data: countPerInterval(
        reqs.map((r) => r.atMs),
        s * 1000,
        start,
        end,
      ),
      period: 600 / s,
    });
  }
  for (const s of [10, 60]) {
    const n = Math.floor((end - start) / (s * 1000));
    const tokens = new Array<number>(n).fill(0);
    for (const r of reqs) {
      const i = Math.floor((r.atMs - start) / (s * 1000));
      if (i < n) tokens[i]! += r.contextTokens + r.generatedTokens;
    }
    out.push({ name: `azure-conv-tokens-${s}s`, unit: `tokens/${s}s`, data: tokens, period: 600 / s });
  }
  return out;
}

/** One-step rolling-origin scores of one model on one series. */
export type ModelScore = { mae: number; smape: number };

/** Plexus against the baselines on one series. */
export type SeriesComparison = {
  name: string;
  points: number;
  testPoints: number;
  naive: ModelScore;
  seasonalNaive: ModelScore;
  plexus: ModelScore;
  /** Plexus MAE ÷ naive MAE (1 when both are 0). */
  maeRatioVsNaive: number;
  maeRatioVsSeasonalNaive: number;
  /** Share of test values inside Plexus's 80% prediction interval. */
  coverage80: number;
  /** Candidate the selector used most over the test points. */
  mostChosen: string;
};

/** `a ÷ b`, with 0 ÷ 0 = 1 (a tie on a series where both are perfect). */
function ratio(a: number, b: number): number {
  if (b === 0) return a === 0 ? 1 : Number.POSITIVE_INFINITY;
  return a / b;
}

function rolling(f: Forecaster, series: readonly number[], split: number): number[] {
  f.fit(series.slice(0, split));
  const out: number[] = [];
  for (let i = split; i < series.length; i++) {
    out.push(f.forecast(1)[0] ?? 0);
    f.update(series[i]!);
  }
  return out;
}

/**
 * Fits on the first `1 − testFraction` of the series, then forecasts every later value one step
 * ahead (each test point is a new forecast origin), for naive, seasonal naive and Plexus.
 *
 * @example
 * const c = compareOnSeries({ name: 'x', unit: 'jobs/h', data: hourly, period: 24 });
 * c.maeRatioVsNaive; // < 1 when Plexus wins
 */
export function compareOnSeries(s: EvaluationSeries, testFraction = 0.3): SeriesComparison {
  const split = Math.floor(s.data.length * (1 - testFraction));
  const actual = s.data.slice(split);
  const naive = rolling(new NaiveForecaster(), s.data, split);
  const seasonal = rolling(new SeasonalNaiveForecaster(s.period), s.data, split);
  const plexus = new RobustForecaster({ period: s.period });
  plexus.fit(s.data.slice(0, split));
  const predictions: number[] = [];
  const chosen = new Map<string, number>();
  let covered = 0;
  for (const value of actual) {
    const point = plexus.forecast(1)[0] ?? 0;
    const [lo, hi] = plexus.interval(0.8);
    if (value >= lo && value <= hi) covered++;
    const name = plexus.explain().chosen;
    chosen.set(name, (chosen.get(name) ?? 0) + 1);
    predictions.push(point);
    plexus.update(value);
  }
  const score = (p: number[]): ModelScore => ({ mae: mae(actual, p), smape: smape(actual, p) });
  const [naiveScore, seasonalScore, plexusScore] = [score(naive), score(seasonal), score(predictions)];
  return {
    name: s.name,
    points: s.data.length,
    testPoints: actual.length,
    naive: naiveScore,
    seasonalNaive: seasonalScore,
    plexus: plexusScore,
    maeRatioVsNaive: ratio(plexusScore.mae, naiveScore.mae),
    maeRatioVsSeasonalNaive: ratio(plexusScore.mae, seasonalScore.mae),
    coverage80: covered / Math.max(actual.length, 1),
    mostChosen: [...chosen.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'naive',
  };
}
