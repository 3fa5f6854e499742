import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scoreDeviceDay } from './scoreDeviceDay.ts';
import { scoreHours } from './scoreHours.ts';
import type { Reading, StationRules } from './types.ts';
import { WEATHERXM_WS1000 } from './weatherxmRules.ts';

const HOUR = 3_600_000;
// A 60 s station keeps these tests small: 60 slots an hour.
const station: StationRules = { ...WEATHERXM_WS1000, stepMs: 60_000 };
const temp = station.variables.temperature!;
const opts = { fromMs: 0, toMs: 2 * HOUR, stepMs: 60_000 };
/** A plausible temperature: a slow wave plus a little deterministic jitter. */
const plausible = (i: number): number => 15 + 3 * Math.sin(i / 90) + (0.05 * ((i * 7919) % 13)) / 13;

test('a full hour of plausible readings scores 1, an empty hour 0', () => {
  const r: Reading[] = Array.from({ length: 60 }, (_, i) => ({ t: i * 60_000, v: plausible(i) }));
  const [h0, h1] = scoreHours(r, temp, opts);
  assert.equal(h0!.score, 1);
  assert.equal(h0!.valid, 60);
  assert.equal(h1!.score, 0);
  assert.equal(h1!.flags.NO_DATA, 60);
});

test('rejected readings lower the hour; below the availability threshold it scores 0', () => {
  const r: Reading[] = Array.from({ length: 120 }, (_, i) => ({ t: i * 60_000, v: plausible(i) }));
  // Out of bounds (and jumps), after the first 10 minutes so the rolling median can tell the
  // glitch from its neighbours (earlier jumps would be "unidentified" and cost the neighbours too).
  for (let i = 0; i < 10; i++) r[15 + i * 4]!.v = 99;
  for (let i = 60; i < 90; i++) r[i]!.v = null; // half of hour 2 missing
  const [h0, h1] = scoreHours(r, temp, opts);
  assert.equal(h0!.flags.OBC, 10);
  assert.equal(h0!.valid, 50);
  assert.equal(h0!.score, 50 / 60);
  assert.equal(h1!.flags.NO_DATA, 30);
  assert.equal(h1!.score, 0); // 30/60 < 0.67
});

test('anomalous readings cost half a slot', () => {
  const r: Reading[] = Array.from({ length: 60 }, (_, i) => ({ t: i * 60_000, v: plausible(i) }));
  const anomalyScores = r.map((_, i) => (i < 6 ? 1 : 0));
  const [h0] = scoreHours(r, temp, { ...opts, anomalyScores, anomalyThreshold: 0.9 });
  assert.equal(h0!.anomalous, 6);
  assert.equal(h0!.score, (60 - 3) / 60);
});

test('a device day averages its hours over every variable of the station model', () => {
  const dayStartMs = 0;
  const full = (f: (i: number) => number): Reading[] =>
    Array.from({ length: 24 * 60 }, (_, i) => ({ t: dayStartMs + i * 60_000, v: f(i) }));
  const readings = {
    temperature: full(plausible),
    humidity: full((i) => 60 + 10 * Math.sin(i / 200) + ((i * 31) % 7) / 10),
    windSpeed: full((i) => 3 + ((i * 13) % 11) / 5),
    pressure: full((i) => 1013 + Math.sin(i / 300) + ((i * 17) % 5) / 50),
    illuminance: full((i) => Math.max(0, 50_000 * Math.sin((Math.PI * (i - 360)) / 720)) + ((i * 3) % 4)),
  };
  const good = scoreDeviceDay(readings, station, { dayStartMs, anomaly: false });
  assert.equal(good.score, 1);

  // The same day with a frozen pressure sensor from noon on.
  const frozen = {
    ...readings,
    pressure: readings.pressure.map((r, i) => (i >= 720 ? { ...r, v: 1013 } : r)),
  };
  const bad = scoreDeviceDay(frozen, station, { dayStartMs, anomaly: false });
  assert.ok(bad.score < 0.93 && bad.score > 0.85, String(bad.score));
  assert.ok(
    bad.variables.pressure!.slice(12).every((h) => h.flags.CONSTANT === 60),
    'bad.variables.pressure!.slice(12).every((h) => h.flags.CONSTANT === 60)',
  );
  assert.equal(bad.hourly[3], 1);
});

test('with the detector on, a sudden step in a steady series is scored as anomalous', () => {
  const dayStartMs = 0;
  const steady: Reading[] = Array.from({ length: 24 * 60 }, (_, i) => ({
    t: i * 60_000,
    v: 15 + 0.3 * Math.sin(i / 40) + (i >= 1000 ? 1.5 : 0),
  }));
  const day = scoreDeviceDay(
    { temperature: steady },
    { ...station, variables: { temperature: temp } },
    { dayStartMs },
  );
  const anomalousHours = day.variables.temperature!.flatMap((h, i) => (h.anomalous > 0 ? [i] : []));
  assert.ok(anomalousHours.includes(Math.floor(1000 / 60)), JSON.stringify(anomalousHours));
  assert.ok(anomalousHours.length <= 3, JSON.stringify(anomalousHours));
  assert.ok(day.score < 1, 'day.score < 1');
});
