import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkFrozen } from './checkFrozen.ts';
import { checkRange } from './checkRange.ts';
import { checkSpikes } from './checkSpikes.ts';
import { findGaps, slotsFilled } from './findGaps.ts';
import type { Reading } from './types.ts';
import { WEATHERXM_WS1000 } from './weatherxmRules.ts';

const STEP = WEATHERXM_WS1000.stepMs;
const { temperature, humidity, illuminance } = WEATHERXM_WS1000.variables;
const series = (values: (number | null)[], step = STEP): Reading[] =>
  values.map((v, i) => ({ t: i * step, v }));

test('range check flags readings outside the sensor limits, empty and non-finite ones', () => {
  const r = series([-41, -40, 21.5, 60, 60.1, null, Number.NaN]);
  assert.deepEqual(checkRange(r, temperature), [true, false, false, false, true, true, true]);
});

test('a jump blames the reading further from the rolling median, and values stuck at the glitch', () => {
  const values = Array.from({ length: 60 }, (_, i) => 20 + 0.01 * (i % 3));
  values[45] = 35; // spike up, stays for two readings, then comes back
  values[46] = 35;
  const { spike, unidentified } = checkSpikes(series(values), temperature, STEP);
  assert.deepEqual(
    spike.flatMap((s, i) => (s ? [i] : [])),
    [45, 46],
  );
  assert.ok(
    unidentified.every((u) => !u),
    'unidentified.every((u) => !u)',
  );
});

test('a jump with too few readings for a median is unidentified, not blamed on either side', () => {
  const { spike, unidentified } = checkSpikes(series([20, 20.1, 35, 20.2]), temperature, STEP);
  assert.ok(
    spike.every((s) => !s),
    'spike.every((s) => !s)',
  );
  assert.deepEqual(unidentified, [false, true, true, true]);
});

test('readings more than 1.5 steps apart are not compared for jumps', () => {
  const r: Reading[] = [...series(Array(40).fill(20)), { t: 40 * STEP + 600_000, v: 30 }];
  const { spike, unidentified } = checkSpikes(r, temperature, STEP);
  assert.ok(!spike[40] && !unidentified[40], '!spike[40] && !unidentified[40]');
});

test('frozen values are flagged once a run reaches the constant window', () => {
  const short = series(Array(800).fill(21)); // 799 × 16 s = 3.55 h < 4 h
  assert.ok(
    checkFrozen(short, temperature).every((f) => !f),
    'checkFrozen(short, temperature).every((f) => !f)',
  );
  const long = series([...Array(1000).fill(21), 21.1]); // 4.4 h
  const flags = checkFrozen(long, temperature);
  assert.ok(flags.slice(0, 1000).every(Boolean), 'flags.slice(0, 1000).every(Boolean)');
  assert.equal(flags[1000], false);
  // empty slots inside a run do not break it
  const holes = series(Array.from({ length: 1000 }, (_, i) => (i % 10 === 5 ? null : 21)));
  assert.ok(checkFrozen(holes, temperature)[999], 'checkFrozen(holes, temperature)[999]');
});

test('frozen humidity above 95 % and illuminance at 0 at night are exempt', () => {
  assert.ok(
    checkFrozen(series(Array(2000).fill(97)), humidity).every((f) => !f),
    'checkFrozen(series(Array(2000).fill(97)), humidity).every((f) => !f)',
  );
  assert.ok(
    checkFrozen(series(Array(2000).fill(80)), humidity).some(Boolean),
    'checkFrozen(series(Array(2000).fill(80)), humidity).some(Boolean)',
  );
  assert.ok(
    checkFrozen(series(Array(2000).fill(0)), illuminance).every((f) => !f),
    'checkFrozen(series(Array(2000).fill(0)), illuminance).every((f) => !f)',
  );
});

test('gaps are the runs of empty slots; jittered readings still fill their slot', () => {
  const r: Reading[] = [
    { t: 3, v: 1 },
    { t: STEP + 9_000, v: 1 },
    { t: 2 * STEP, v: null },
    { t: 5 * STEP + 1, v: 1 },
  ];
  assert.deepEqual(Array.from(slotsFilled(r, 0, 7 * STEP, STEP)), [1, 1, 0, 0, 0, 1, 0]);
  assert.deepEqual(findGaps(r, 0, 7 * STEP, STEP), [
    { from: 2 * STEP, to: 5 * STEP, missingSlots: 3 },
    { from: 6 * STEP, to: 7 * STEP, missingSlots: 1 },
  ]);
});
