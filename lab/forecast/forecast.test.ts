import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingDataReason, skipWithoutData } from '../traces/dataDir.ts';
import { loadPhilly, PHILLY } from '../traces/loadPhilly.ts';
import { ArrivalForecaster } from './arrivalForecaster.ts';
import { countPerInterval, mae, rollingEvaluate, smape } from './evaluateForecast.ts';
import { NaiveForecaster, SeasonalNaiveForecaster } from './forecaster.ts';
import { forecastPriceStep } from './forecastPriceStep.ts';
import { HoltWintersForecaster } from './holtWinters.ts';
import { fitRidge } from './ridge.ts';

test('metrics: MAE, and sMAPE with an empty interval forecast as empty scoring 0', () => {
  assert.equal(mae([1, 2, 3], [2, 2, 5]), 1);
  assert.ok(
    Math.abs(smape([100, 0], [110, 0]) - (100 * (20 / 210)) / 2) < 1e-9,
    'Math.abs(smape([100, 0], [110, 0]) - (100 * (20 / 210)) / 2) < 1e-9',
  );
  assert.equal(smape([0], [5]), 200);
});

test('counting per interval drops the partial last interval', () => {
  assert.deepEqual(countPerInterval([0, 10, 65, 130, 190], 60, 0, 200), [2, 1, 1]);
});

test('naive and seasonal-naive forecasts', () => {
  const n = new NaiveForecaster();
  n.fit([1, 2, 3]);
  assert.deepEqual(n.forecast(2), [3, 3]);
  const s = new SeasonalNaiveForecaster(3);
  s.fit([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(s.forecast(4), [4, 5, 6, 4]);
  s.update(7);
  assert.deepEqual(s.forecast(1), [5]);
});

test('ridge recovers a linear law', () => {
  const beta = fitRidge(
    [0, 1, 2, 3, 4].map((x) => [1, x]),
    [1, 3, 5, 7, 9],
    0,
  );
  assert.ok(
    Math.abs(beta[0]! - 1) < 1e-9 && Math.abs(beta[1]! - 2) < 1e-9,
    'Math.abs(beta[0]! - 1) < 1e-9 && Math.abs(beta[1]! - 2) < 1e-9',
  );
});

test('Holt-Winters follows a clean seasonal series', () => {
  const series = Array.from({ length: 24 * 10 }, (_, t) => 50 + 20 * Math.sin((2 * Math.PI * t) / 24));
  const score = rollingEvaluate(new HoltWintersForecaster(24), series, 0.2);
  assert.ok(score.mae < 1, `HW MAE ${score.mae}`);
});

test('the Plexus forecaster beats naive on a noisy daily-cycle count series', () => {
  // Poisson-like counts around a daily profile; the last value carries the noise, the model averages it out.
  let s = 12345;
  const rand = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const series = Array.from({ length: 24 * 30 }, (_, t) => {
    const mean = 30 + 20 * Math.sin((2 * Math.PI * t) / 24);
    let k = 0;
    for (let p = Math.exp(-mean), acc = rand(); acc > p; acc *= rand()) k++;
    return k;
  });
  const ours = rollingEvaluate(new ArrivalForecaster({ period: 24 }), series);
  const naive = rollingEvaluate(new NaiveForecaster(), series);
  assert.ok(ours.mae < naive.mae * 0.85, `ours ${ours.mae} naive ${naive.mae}`);
  assert.ok(
    ours.predictions.every((p) => Number.isInteger(p) && p >= 0),
    'ours.predictions.every((p) => Number.isInteger(p) && p >= 0)',
  );
});

test('Plexus beats naive and seasonal naive on the first 40 days of Philly hourly arrivals', {
  skip: skipWithoutData(missingDataReason(PHILLY)),
}, () => {
  const jobs = loadPhilly(30_000);
  const t0 = Math.floor(jobs[0]!.submit / 3600) * 3600;
  const hourly = countPerInterval(
    jobs.map((j) => j.submit),
    3600,
    t0,
    jobs.at(-1)!.submit,
  );
  const ours = rollingEvaluate(new ArrivalForecaster({ period: 24 }), hourly);
  const naive = rollingEvaluate(new NaiveForecaster(), hourly);
  const seasonal = rollingEvaluate(new SeasonalNaiveForecaster(24), hourly);
  assert.ok(
    ours.mae < naive.mae && ours.mae < seasonal.mae,
    `MAE ours ${ours.mae} naive ${naive.mae} seasonal ${seasonal.mae}`,
  );
});

test('forecast demand moves the price in bounded integer steps', () => {
  assert.equal(forecastPriceStep(1_000_000n, 90, 100), 1_015_600n);
  assert.equal(forecastPriceStep(1_000_000n, 80, 100), 1_000_000n);
  assert.equal(forecastPriceStep(1_000_000n, 1e9, 100), 1_125_000n);
  assert.equal(forecastPriceStep(1_000_000n, 0, 100), 875_000n);
  assert.equal(forecastPriceStep(5n, 0, 100, { floor: 5n }), 5n);
});
