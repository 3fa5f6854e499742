import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnomalyLikelihood } from './AnomalyLikelihood.ts';
import { DEFAULT_ALERT_THRESHOLD } from './constants.ts';
import { createAnomalyDetector } from './createAnomalyDetector.ts';
import { detectAnomalies } from './detectAnomalies.ts';
import { gaussianTail } from './gaussianTail.ts';
import { RollingWindow } from './RollingWindow.ts';
import { SubsequenceMemory } from './SubsequenceMemory.ts';

/** Deterministic pseudo-noise in [-0.5, 0.5) (a small LCG), so the tests never flake. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
/** A daily-periodic series (288 readings a day) with noise, like NAB's 5-minute data. */
function periodic(n: number, seed = 1): number[] {
  const r = noise(seed);
  return Array.from({ length: n }, (_, i) => 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + 2 * r());
}
const alerts = (scores: number[]): number[] =>
  scores.flatMap((s, i) => (s >= DEFAULT_ALERT_THRESHOLD ? [i] : []));

test('gaussianTail matches known normal tail probabilities', () => {
  assert.ok(Math.abs(gaussianTail(0) - 0.5) < 1e-7, 'Math.abs(gaussianTail(0) - 0.5) < 1e-7');
  assert.ok(
    Math.abs(gaussianTail(1.959964) - 0.025) < 1e-6,
    'Math.abs(gaussianTail(1.959964) - 0.025) < 1e-6',
  );
  assert.ok(Math.abs(gaussianTail(-3) - 0.9986501) < 1e-6, 'Math.abs(gaussianTail(-3) - 0.9986501) < 1e-6');
});

test('RollingWindow keeps the mean and variance of the last values', () => {
  const w = new RollingWindow(4);
  const values = [3, 9, -2, 7, 5, 1, 100, 4];
  for (const v of values) w.push(v);
  const last = values.slice(-4);
  const mean = last.reduce((a, b) => a + b, 0) / 4;
  assert.equal(w.mean(), mean);
  assert.ok(
    Math.abs(w.variance() - last.reduce((a, b) => a + (b - mean) ** 2, 0) / 4) < 1e-9,
    'Math.abs(w.variance() - last.reduce((a, b) => a + (b - mean) ** 2, 0) / 4) < 1e-9',
  );
  assert.equal(w.at(0), 4);
  assert.equal(w.at(3), 5);
  assert.equal(w.at(4), undefined);
});

test('the shape memory finds repeated shapes near and new shapes far', () => {
  const mem = new SubsequenceMemory({ length: 8, segments: 4, capacity: 500 });
  let d: number | undefined;
  for (let i = 0; i < 400; i++) d = mem.push(Math.sin(i / 5), 2);
  assert.ok(d !== undefined && d < 0.05, String(d));
  for (let i = 0; i < 8; i++) d = mem.push(1.5, 2); // a plateau the sine never had
  assert.ok(d !== undefined && d > 0.1, String(d));
});

test('the likelihood is calm on steady noise and high on a sustained change', () => {
  const lik = new AnomalyLikelihood(10, 2000);
  const r = noise(7);
  let calm = 0;
  for (let i = 0; i < 3000; i++)
    calm = Math.max(calm, i > 500 ? lik.update(1 + r(), true) : lik.update(1 + r(), false));
  let high = 0;
  for (let i = 0; i < 20; i++) high = Math.max(high, lik.update(4, true));
  assert.ok(calm < 0.5, `calm ${calm}`);
  assert.ok(high > 0.9, `high ${high}`);
});

test('causal: the score of a reading does not depend on later readings', () => {
  const values = periodic(2500);
  const full = detectAnomalies(values);
  const prefix = detectAnomalies(values.slice(0, 1700));
  assert.deepEqual(full.slice(0, 1700), prefix);
});

test('deterministic: the same series always gives the same scores', () => {
  const values = periodic(2000, 3);
  assert.deepEqual(detectAnomalies(values), detectAnomalies(values));
});

test('quiet on a clean periodic series, alerts on a level shift and a spike', () => {
  const clean = periodic(4000);
  assert.deepEqual(alerts(detectAnomalies(clean)), []);

  const shifted = clean.map((v, i) => (i >= 3000 ? v + 40 : v));
  const a = alerts(detectAnomalies(shifted));
  assert.ok(a.length > 0 && a[0]! >= 3000 && a[0]! < 3010, JSON.stringify(a));

  const spiked = clean.slice();
  spiked[3500] = 140;
  const b = alerts(detectAnomalies(spiked));
  assert.deepEqual(b, [3500]);
});

test('alerts on a broken daily pattern that stays inside the normal range', () => {
  // The wave stops for half a day at its mean: no new extreme, only a new shape.
  const values = periodic(4000).map((v, i) => (i >= 3000 && i < 3144 ? 50 + (v - 50) * 0.05 : v));
  const a = alerts(detectAnomalies(values));
  assert.ok(
    a.some((i) => i >= 3000 && i < 3144),
    JSON.stringify(a),
  );
});

test('one incident pages once: alerts are held off for the refractory period', () => {
  const det = createAnomalyDetector({ refractoryPeriod: 100 });
  const values = periodic(3000);
  for (let i = 2500; i < 2560; i++) values[i] = 200 + i; // a climbing excursion, each reading a new extreme
  const a = alerts(values.map((v) => det.update(v)));
  assert.deepEqual(a, [2500]);
});

test('non-finite readings score 0 and are not learned', () => {
  const values = periodic(1500);
  const holed = values.flatMap((v, i) => (i % 100 === 50 ? [Number.NaN, v, Number.POSITIVE_INFINITY] : [v]));
  const scores = detectAnomalies(holed);
  assert.ok(
    scores.every((s, i) => Number.isFinite(holed[i]!) || s === 0),
    'scores.every((s, i) => Number.isFinite(holed[i]!) || s === 0)',
  );
  assert.deepEqual(
    scores.filter((_, i) => Number.isFinite(holed[i]!)),
    detectAnomalies(values),
  );
});

test('a frozen sensor alerts once its run is far longer than any run before', () => {
  // White noise, then stuck at an ordinary value: no new extreme, no point surprise, and a flat
  // stretch at the mean looks like the segment means of noise, so only the frozen-value rule sees it.
  const r = noise(4);
  const values = Array.from({ length: 4000 }, () => 50 + 4 * r());
  for (let i = 3000; i < 3200; i++) values[i] = values[2999]!;
  assert.deepEqual(
    alerts(detectAnomalies(values)).filter((i) => i >= 3000 && i < 3200),
    [3029],
  );
  assert.deepEqual(
    alerts(detectAnomalies(values, { flatlineFactor: 0 })).filter((i) => i >= 3000 && i < 3200),
    [],
  );
  // A series quantised into long natural runs does not alert on a run of the usual length.
  const steps = Array.from({ length: 4000 }, (_, i) => Math.floor(i / 40) % 5);
  assert.deepEqual(alerts(detectAnomalies(steps)), []);
});

test('the local spike likelihood view catches an in-range spike on a calm stretch, relative to its burstiness', () => {
  // A slow wave with small noise; one reading jumps to the other side of the wave, inside the range.
  const values = periodic(4000);
  values[3500] = values[3500]! - 30;
  const a = alerts(detectAnomalies(values, { spikeTolerance: 1, isolatedSpikeFactor: 0 }));
  assert.ok(a.includes(3500), JSON.stringify(a));
  assert.ok(a.length <= 2, JSON.stringify(a));
  // The same jump on a series whose every stretch is that bursty is ordinary there.
  const r = noise(9);
  const bursty = Array.from(
    { length: 4000 },
    (_, i) => 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + 60 * r(),
  );
  bursty[3500] = bursty[3500]! - 30;
  assert.ok(
    !alerts(detectAnomalies(bursty, { spikeTolerance: 1, isolatedSpikeFactor: 0 })).includes(3500),
    '!alerts(detectAnomalies(bursty, { spikeTolerance: 1, isolatedSpikeFactor: 0 })).includes(3500)',
  );
});

test('isolated-spike view: a level shift is not a spike, and a series spiky all along does not page', () => {
  // A level shift: the reading after the jump does not come back, so the view adds no alert.
  const shifted = periodic(4000).map((v, i) => (i >= 3500 ? v - 30 : v));
  assert.deepEqual(
    alerts(detectAnomalies(shifted)),
    alerts(detectAnomalies(shifted, { isolatedSpikeFactor: 0 })),
  );
  // In-range spikes of one size all along: the early ones set the record, the later ones are ordinary.
  const spiky = periodic(4000);
  for (let i = 100; i < 4000; i += 150) spiky[i] = spiky[i]! - 30;
  const late = (a: number[]): number[] => a.filter((i) => i > 1000);
  assert.deepEqual(
    late(alerts(detectAnomalies(spiky))),
    late(alerts(detectAnomalies(spiky, { isolatedSpikeFactor: 0 }))),
  );
});
