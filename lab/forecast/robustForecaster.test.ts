import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingDataReason, skipWithoutData } from '../traces/dataDir.ts';
import { AZURE_LLM, loadAzureLlm } from '../traces/loadAzureLlm.ts';
import { loadPhilly, PHILLY } from '../traces/loadPhilly.ts';
import { rollingEvaluate } from './evaluateForecast.ts';
import { azureSeries, compareOnSeries, phillySeries } from './evaluationSeries.ts';
import { type Forecaster, NaiveForecaster } from './forecaster.ts';
import { clampForecast, plausibleBounds } from './guardRails.ts';
import { IntermittentForecaster } from './intermittent.ts';
import { RobustForecaster } from './robustForecaster.ts';
import {
  MovingMedianForecaster,
  SeasonalMedianForecaster,
  SeasonalStepForecaster,
  SesForecaster,
} from './simpleForecasters.ts';

/** Deterministic uniform [0, 1) numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
}

/** A model that has run away: it forecasts 100× the last value. */
class RunawayForecaster implements Forecaster {
  readonly name = 'runaway';
  #last = 0;
  fit(series: readonly number[]): void {
    this.#last = series.at(-1) ?? 0;
  }
  update(value: number): void {
    this.#last = value;
  }
  forecast(h: number): number[] {
    return new Array<number>(h).fill(this.#last * 100 + 1e6);
  }
}

test('guard rails: bounds come from the recent window, and a runaway or NaN forecast is clamped', () => {
  assert.deepEqual(plausibleBounds([3, 5, 4, 10], { window: 4 }), [3, 10.7]);
  assert.deepEqual(plausibleBounds([9, 0, 0, 0], { window: 3 }), [0, 0]);
  assert.equal(clampForecast(250, [0, 100]), 100);
  assert.equal(clampForecast(-3, [0, 100]), 0);
  assert.equal(clampForecast(Number.NaN, [0, 100]), 50);
  // Even when the only candidate besides naive runs away and is chosen, no forecast leaves the rails.
  const series = Array.from({ length: 300 }, (_, i) => 10 + (i % 7));
  const f = new RobustForecaster({ candidates: () => [new NaiveForecaster(), new RunawayForecaster()] });
  f.fit(series);
  for (let i = 0; i < 50; i++) {
    const p = f.forecast(3);
    assert.ok(
      p.every((v) => v <= 16 + 0.6 + 1e-9 && v >= 10),
      JSON.stringify(p),
    );
    f.update(10 + (i % 7));
  }
});

test('intermittent demand: TSB forecasts an empty interval when demand is rare, SBA the mean', () => {
  const sparse = [0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 3, 0, 0];
  const tsb = new IntermittentForecaster();
  tsb.fit(sparse);
  assert.deepEqual(tsb.forecast(2), [0, 0]);
  assert.ok(
    tsb.probability() > 0 && tsb.probability() < 0.5,
    'tsb.probability() > 0 && tsb.probability() < 0.5',
  );
  const mean = new IntermittentForecaster({ output: 'mean' });
  mean.fit(sparse);
  assert.ok(
    mean.forecast(1)[0]! > 0 && mean.forecast(1)[0]! < 3,
    'mean.forecast(1)[0]! > 0 && mean.forecast(1)[0]! < 3',
  );
  const sba = new IntermittentForecaster({ method: 'sba', output: 'mean' });
  sba.fit(sparse);
  assert.ok(
    sba.forecast(1)[0]! > 0 && sba.forecast(1)[0]! < 1.5,
    'sba.forecast(1)[0]! > 0 && sba.forecast(1)[0]! < 1.5',
  );
  // Frequent demand: the median output is the typical size, not 0.
  const busy = new IntermittentForecaster();
  busy.fit([5, 6, 0, 5, 7, 5, 6, 0, 5, 6]);
  assert.ok(busy.forecast(1)[0]! >= 5, 'busy.forecast(1)[0]! >= 5');
});

test('the Plexus forecaster forecasts empty intervals on a mostly-empty series and beats naive there', () => {
  const r = rng(3);
  const series = Array.from({ length: 1500 }, () => (r() < 0.15 ? 1 + Math.floor(r() * 5) : 0));
  const ours = rollingEvaluate(new RobustForecaster(), series);
  const naive = rollingEvaluate(new NaiveForecaster(), series);
  assert.ok(
    ours.predictions.filter((p) => p === 0).length > ours.predictions.length / 2,
    'ours.predictions.filter((p) => p === 0).length > ours.predictions.length / 2',
  );
  assert.ok(ours.mae < naive.mae * 0.8, `ours ${ours.mae} naive ${naive.mae}`);
});

test('falls back to naive when validation shows no gain (a random walk)', () => {
  const r = rng(11);
  let x = 1000;
  const walk = Array.from({ length: 1200 }, () => (x += Math.round((r() - 0.5) * 40)));
  const f = new RobustForecaster({ period: 24 });
  const ours = rollingEvaluate(f, walk);
  const naive = rollingEvaluate(new NaiveForecaster(), walk);
  assert.ok(ours.mae <= naive.mae * 1.02, `ours ${ours.mae} naive ${naive.mae}`);
  assert.equal(new RobustForecaster().explain().chosen, 'naive');
});

test('picks a better model when validation shows a clear gain, with calibrated intervals', () => {
  // Poisson-like noise around a constant: the last value carries the noise, a smoother averages it.
  const r = rng(5);
  const series = Array.from({ length: 1500 }, () => {
    let k = 0;
    for (let p = Math.exp(-20), acc = r(); acc > p; acc *= r()) k++;
    return k;
  });
  const f = new RobustForecaster();
  f.fit(series.slice(0, 1000));
  assert.notEqual(f.explain().chosen, 'naive');
  let covered = 0;
  let errors = 0;
  let naiveErrors = 0;
  for (let i = 1000; i < 1500; i++) {
    const [lo, hi] = f.interval(0.8);
    if (series[i]! >= lo && series[i]! <= hi) covered++;
    errors += Math.abs(series[i]! - f.forecast(1)[0]!);
    naiveErrors += Math.abs(series[i]! - series[i - 1]!);
    f.update(series[i]!);
  }
  assert.ok(errors < naiveErrors * 0.85, `${errors} vs naive ${naiveErrors}`);
  assert.ok(covered / 500 > 0.72 && covered / 500 < 0.9, `coverage ${covered / 500}`);
});

test('the selection itself must beat naive on its own record before its forecast is used', () => {
  // Poisson-like noise around a constant, where a smoother clearly beats the last value. Fitted on
  // 100 values, the candidates are validated on 50: enough to choose, but the selection has been
  // scored on only 2 steps of its own, so naive forecasts until it has 24 (minSelectionSteps).
  const r = rng(9);
  const series = Array.from({ length: 300 }, () => {
    let k = 0;
    for (let p = Math.exp(-20), acc = r(); acc > p; acc *= r()) k++;
    return k;
  });
  const f = new RobustForecaster();
  f.fit(series.slice(0, 100));
  assert.equal(f.explain().chosen, 'naive');
  assert.equal(f.forecast(1)[0], series[99]);
  for (let i = 100; i < 120; i++) f.update(series[i]!);
  assert.equal(f.explain().chosen, 'naive', 'still short of 24 scored steps');
  for (let i = 120; i < 200; i++) f.update(series[i]!);
  assert.notEqual(f.explain().chosen, 'naive');
  assert.notEqual(f.forecast(1)[0], series[199]);
});

test('simple candidates: moving median, seasonal median, seasonal step, SES', () => {
  const mm = new MovingMedianForecaster(3);
  mm.fit([5, 40, 6]);
  assert.deepEqual(mm.forecast(2), [6, 6]);
  const sm = new SeasonalMedianForecaster(2, 3);
  sm.fit([1, 10, 2, 11, 9, 12]);
  assert.deepEqual(sm.forecast(1), [2]);
  const step = new SeasonalStepForecaster(2);
  step.fit([1, 5, 2, 6, 3]);
  assert.deepEqual(step.forecast(1), [7]);
  const ses = new SesForecaster(0.5);
  ses.fit([0, 10]);
  assert.deepEqual(ses.forecast(1), [5]);
});

test('on every Philly and Azure series the Plexus forecaster stays within 5% of naive MAE', {
  skip: skipWithoutData(missingDataReason(PHILLY), missingDataReason(AZURE_LLM)),
}, () => {
  const all = [...phillySeries(loadPhilly()), ...azureSeries(loadAzureLlm())];
  assert.ok(all.length >= 50, 'all.length >= 50');
  const results = all.map((s) => compareOnSeries(s));
  const worst = Math.max(...results.map((c) => c.maeRatioVsNaive));
  const wins = results.filter((c) => c.maeRatioVsNaive < 1).length;
  const losses = results.filter((c) => c.maeRatioVsNaive > 1).length;
  // Measured: worst 1.028, 22 wins, 29 ties, 3 losses of 54 (npm run bench -- forecast); before the
  // selection had to earn its place (#gate), worst 1.072 with 30 wins and 6 losses.
  assert.ok(worst <= 1.05, `worst ratio ${worst}`);
  assert.ok(wins >= 20 && wins > 3 * losses, `${wins} wins, ${losses} losses of ${all.length}`);
});

test('a mostly empty series with lone bursts is forecast 0; one whose bursts persist stays with naive', () => {
  const r = rng(7);
  // Lone bursts at random times: about one interval in 12, never two in a row.
  const lone: number[] = [];
  for (let i = 0; i < 400; i++) lone.push(lone.at(-1) === 0 && r() < 0.09 ? 1 + Math.floor(r() * 4) : 0);
  // Naive is the only candidate, so the selection never opens and the sparse rule alone decides.
  const onlyNaive = (): Forecaster[] => [new NaiveForecaster()];
  const f = new RobustForecaster({ candidates: onlyNaive });
  f.fit(lone.slice(0, 300));
  f.update(3); // a burst has just been seen: naive would repeat it
  assert.equal(f.forecast(1)[0], 0);
  assert.equal(f.explain().chosen, 'zero (sparse)');
  const [lo, hi] = f.interval(0.8);
  assert.ok(lo <= 0 && hi >= 0, 'lo <= 0 && hi >= 0');
  // Persistent bursts: runs of 6 equal non-zero values, then 18 empty intervals.
  const runs: number[] = [];
  for (let i = 0; i < 400; i++) runs.push(i % 24 < 6 ? 5 : 0);
  const g = new RobustForecaster({ candidates: onlyNaive });
  g.fit(runs.slice(0, 300));
  g.update(5);
  assert.notEqual(g.explain().chosen, 'zero (sparse)');
  assert.equal(g.forecast(1)[0], 5);
  // The rule can be turned off.
  const off = new RobustForecaster({ candidates: onlyNaive, sparseShare: 0 });
  off.fit(lone.slice(0, 300));
  off.update(3);
  assert.notEqual(off.explain().chosen, 'zero (sparse)');
});
