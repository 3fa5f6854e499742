/**
 * Demand forecasting. Part 1, the two headline series: job arrivals per hour in the Philly trace
 * (Sep–Dec 2017) and LLM requests per minute in the Azure conversation trace (one hour), with
 * naive, seasonal naive, Holt-Winters, the ridge autoregression (`plexus-ar`) and the Plexus
 * forecaster (`plexus`, the guarded model selector). Part 2, the wide evaluation: every Philly
 * virtual cluster and the whole trace at 1 h, 6 h and 1 day, and the Azure trace's requests and
 * tokens at several intervals, each with wins and losses against naive and seasonal naive.
 * Every forecaster is fitted on the first 70% of a series and scored one step ahead on the
 * held-back final 30% (rolling origin: after each forecast the true value is revealed).
 * The selector's own settings were chosen on a development split that never sees those points:
 * the same protocol on the first 70% of each series alone (fit on its first 70%, score the rest);
 * its summary is printed too (`development`).
 *
 *   npm run bench -- forecast [--json]
 */
import { ArrivalForecaster } from '../lab/forecast/arrivalForecaster.ts';
import { countPerInterval, type ForecastScore, rollingEvaluate } from '../lab/forecast/evaluateForecast.ts';
import {
  azureSeries,
  compareOnSeries,
  phillySeries,
  type SeriesComparison,
} from '../lab/forecast/evaluationSeries.ts';
import { type Forecaster, NaiveForecaster, SeasonalNaiveForecaster } from '../lab/forecast/forecaster.ts';
import { HoltWintersForecaster } from '../lab/forecast/holtWinters.ts';
import { RobustForecaster } from '../lab/forecast/robustForecaster.ts';
import { loadAzureLlm } from '../lab/traces/loadAzureLlm.ts';
import { loadPhilly } from '../lab/traces/loadPhilly.ts';

/**
 * Runs the benchmark, printing the comparison as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run(['--seeds', '1']); // what `npm run bench -- forecast --seeds 1` prints and returns
 */
export async function run(_args: string[]): Promise<Record<string, unknown>> {
  let philly: ReturnType<typeof loadPhilly>;
  let azure: ReturnType<typeof loadAzureLlm>;
  try {
    philly = loadPhilly();
    azure = loadAzureLlm();
  } catch (err) {
    console.error(`forecast benchmark needs the Philly and Azure traces: ${(err as Error).message}`);
    process.exit(1);
  }
  const t0 = Math.floor(philly[0]!.submit / 3600) * 3600;
  const hourly = countPerInterval(
    philly.map((j) => j.submit),
    3600,
    t0,
    philly.at(-1)!.submit + 1,
  );
  const minutely = countPerInterval(
    azure.map((r) => r.atMs),
    60_000,
    azure[0]!.atMs,
    azure.at(-1)!.atMs + 1,
  );
  const series: { name: string; unit: string; data: number[]; period: number; models: () => Forecaster[] }[] =
    [
      {
        name: 'philly-hourly',
        unit: 'jobs/hour',
        data: hourly,
        period: 24,
        models: () => [
          new NaiveForecaster(),
          new SeasonalNaiveForecaster(24),
          new HoltWintersForecaster(24),
          new ArrivalForecaster({ period: 24, refitEvery: 24 }),
          new RobustForecaster({ period: 24 }),
        ],
      },
      {
        // One hour of data has no daily cycle; the seasonal baseline uses a 10-minute period.
        name: 'azure-llm-per-minute',
        unit: 'requests/minute',
        data: minutely,
        period: 10,
        models: () => [
          new NaiveForecaster(),
          new SeasonalNaiveForecaster(10),
          new HoltWintersForecaster(10),
          new ArrivalForecaster({ period: 0, refitEvery: 1 }),
          new RobustForecaster({ period: 10 }),
        ],
      },
    ];
  const figures: Record<string, unknown> = {};
  for (const s of series) {
    const test = s.data.length - Math.floor(s.data.length * 0.7);
    console.log(`\n## ${s.name}: ${s.data.length} intervals (${s.unit}), held-back final ${test}`);
    console.log(`${'model'.padEnd(22)}${'MAE'.padStart(10)}${'sMAPE %'.padStart(10)}`);
    const scores: ForecastScore[] = s.models().map((m) => rollingEvaluate(m, s.data, 0.3));
    for (const sc of scores)
      console.log(
        `${sc.name.padEnd(22)}${sc.mae.toFixed(2).padStart(10)}${sc.smape.toFixed(2).padStart(10)}`,
      );
    const ours = scores.at(-1)!;
    const beaten = scores.slice(0, 2).every((b) => ours.mae < b.mae && ours.smape < b.smape);
    console.log(`plexus beats naive and seasonal naive on both metrics: ${beaten ? 'yes' : 'NO'}`);
    figures[s.name] = Object.fromEntries(
      scores.map((sc) => [sc.name, { mae: Number(sc.mae.toFixed(3)), smape: Number(sc.smape.toFixed(3)) }]),
    );
  }
  return { ...figures, ...wideEvaluation(philly, azure) };
}

/** Part 2: every series, its ratios against the baselines, and the summary fields of `--json`. */
function wideEvaluation(
  philly: ReturnType<typeof loadPhilly>,
  azure: ReturnType<typeof loadAzureLlm>,
): Record<string, unknown> {
  const started = performance.now();
  const results: SeriesComparison[] = [...phillySeries(philly), ...azureSeries(azure)].map((s) =>
    compareOnSeries(s, 0.3),
  );
  const seconds = (performance.now() - started) / 1000;
  const development = [...phillySeries(philly), ...azureSeries(azure)].map((s) =>
    compareOnSeries({ ...s, data: s.data.slice(0, Math.floor(s.data.length * 0.7)) }, 0.3),
  );
  const devWorst = Math.max(...development.map((c) => c.maeRatioVsNaive));
  const devWins = development.filter((c) => c.maeRatioVsNaive < 1).length;
  const devLosses = development.filter((c) => c.maeRatioVsNaive > 1).length;
  console.log(`\n## every series: one-step MAE, final 30% held back (${results.length} series)`);
  console.log(
    `${'series'.padEnd(26)}${'test'.padStart(6)}${'naive'.padStart(11)}${'s-naive'.padStart(11)}${'plexus'.padStart(11)}${'÷naive'.padStart(8)}${'÷s-naive'.padStart(9)}${'cov80'.padStart(7)}  most chosen`,
  );
  const f = (x: number): string => (x >= 1000 ? x.toFixed(0) : x.toFixed(3)).padStart(11);
  for (const c of results) {
    console.log(
      `${c.name.padEnd(26)}${String(c.testPoints).padStart(6)}${f(c.naive.mae)}${f(c.seasonalNaive.mae)}${f(c.plexus.mae)}${c.maeRatioVsNaive.toFixed(3).padStart(8)}${c.maeRatioVsSeasonalNaive.toFixed(3).padStart(9)}${c.coverage80.toFixed(2).padStart(7)}  ${c.mostChosen}`,
    );
  }
  const count = (pred: (c: SeriesComparison) => boolean): number => results.filter(pred).length;
  const winsVsNaive = count((c) => c.maeRatioVsNaive < 1);
  const tiesVsNaive = count((c) => c.maeRatioVsNaive === 1);
  const winsVsSeasonalNaive = count((c) => c.maeRatioVsSeasonalNaive < 1);
  const tiesVsSeasonalNaive = count((c) => c.maeRatioVsSeasonalNaive === 1);
  const worst = results.reduce((a, b) => (b.maeRatioVsNaive > a.maeRatioVsNaive ? b : a));
  const over5 = results.filter((c) => c.maeRatioVsNaive > 1.05).map((c) => c.name);
  const coverage = results.reduce((s, c) => s + c.coverage80, 0) / results.length;
  const testPoints = results.reduce((s, c) => s + c.testPoints, 0);
  console.log(
    `\nvs naive: ${winsVsNaive} wins, ${tiesVsNaive} ties, ${results.length - winsVsNaive - tiesVsNaive} losses;` +
      ` vs seasonal naive: ${winsVsSeasonalNaive} wins, ${tiesVsSeasonalNaive} ties, ${results.length - winsVsSeasonalNaive - tiesVsSeasonalNaive} losses` +
      `\nworst MAE ratio vs naive: ${worst.maeRatioVsNaive.toFixed(3)} (${worst.name}); series more than 5% worse than naive: ${over5.length === 0 ? 'none' : over5.join(', ')}` +
      `\nmean coverage of the 80% interval: ${coverage.toFixed(3)}; ${testPoints} test points; ${seconds.toFixed(1)} s` +
      `\ndevelopment split (first 70% of each series only, where settings were chosen): ${devWins} wins, ${devLosses} losses, worst ratio ${devWorst.toFixed(3)}`,
  );
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    series: results.length,
    testPoints,
    winsVsNaive,
    tiesVsNaive,
    lossesVsNaive: results.length - winsVsNaive - tiesVsNaive,
    worstMaeRatioVsNaive: r3(worst.maeRatioVsNaive),
    worstSeries: worst.name,
    seriesOver5PctWorseThanNaive: over5,
    winsVsSeasonalNaive,
    lossesVsSeasonalNaive: results.length - winsVsSeasonalNaive - tiesVsSeasonalNaive,
    meanCoverage80: r3(coverage),
    development: { wins: devWins, losses: devLosses, worstMaeRatioVsNaive: r3(devWorst) },
    perSeries: Object.fromEntries(
      results.map((c) => [
        c.name,
        {
          test: c.testPoints,
          naive: r3(c.naive.mae),
          seasonalNaive: r3(c.seasonalNaive.mae),
          plexus: r3(c.plexus.mae),
          ratioVsNaive: r3(c.maeRatioVsNaive),
          ratioVsSeasonalNaive: r3(c.maeRatioVsSeasonalNaive),
          coverage80: r3(c.coverage80),
        },
      ]),
    ),
  };
}
