/**
 * Demand forecasting: job arrivals per hour in the Philly trace (Sep–Dec 2017) and LLM requests
 * per minute in the Azure conversation trace (one hour). Every forecaster is fitted on the first
 * 70% of its series and scored one step ahead on the held-back final 30% (rolling origin: after
 * each forecast the true value is revealed). Naive (last value), seasonal naive and Holt-Winters
 * run in the same process as the Plexus forecaster.
 *
 *   npm run bench -- forecast [--json]
 */
import { ArrivalForecaster } from '../lab/forecast/arrivalForecaster.ts';
import { countPerInterval, type ForecastScore, rollingEvaluate } from '../lab/forecast/evaluateForecast.ts';
import { type Forecaster, NaiveForecaster, SeasonalNaiveForecaster } from '../lab/forecast/forecaster.ts';
import { HoltWintersForecaster } from '../lab/forecast/holtWinters.ts';
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
    console.log(`plexus-ar beats naive and seasonal naive on both metrics: ${beaten ? 'yes' : 'NO'}`);
    figures[s.name] = Object.fromEntries(
      scores.map((sc) => [sc.name, { mae: Number(sc.mae.toFixed(3)), smape: Number(sc.smape.toFixed(3)) }]),
    );
  }
  return figures;
}
