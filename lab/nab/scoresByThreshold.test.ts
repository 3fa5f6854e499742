import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeScore } from './normalizeScore.ts';
import { probationaryLength } from './probationaryLength.ts';
import { scaledSigmoid } from './scaledSigmoid.ts';
import { scoreDataSet } from './scoreDataSet.ts';
import { scoresByThreshold } from './scoresByThreshold.ts';
import { sweepScores } from './sweepScores.ts';
import type { CostMatrix } from './types.ts';

const standard: CostMatrix = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1, tnWeight: 1 };
const ts = Array.from({ length: 20 }, (_, i) => i * 1000);
const scores = ts.map(() => 0);
scores[2] = 0.7; // false positive before any window
scores[12] = 0.9; // inside the window [10, 14]
scores[17] = 0.8; // false positive after it
const windows = [[10_000, 14_000] as const];

test('scaledSigmoid matches the values documented in NAB', () => {
  assert.ok(Math.abs(scaledSigmoid(-1) - 0.98661) < 1e-5, 'Math.abs(scaledSigmoid(-1) - 0.98661) < 1e-5');
  assert.ok(Math.abs(scaledSigmoid(-0.5) - 0.84828) < 1e-5, 'Math.abs(scaledSigmoid(-0.5) - 0.84828) < 1e-5');
  assert.equal(scaledSigmoid(0), 0);
  assert.equal(scaledSigmoid(3), -1);
  assert.ok(scaledSigmoid(2.999) > -1, 'scaledSigmoid(2.999) > -1');
});

test('probation is 15% of the rows, capped at 750', () => {
  assert.equal(probationaryLength(4032), 604);
  assert.equal(probationaryLength(22695), 750);
  assert.equal(probationaryLength(20, 0.15), 3);
});

test('sweep scores reward early detections and fade false-positive penalties', () => {
  const pts = sweepScores(ts, scores, windows, 'f', standard, 0);
  const maxTP = scaledSigmoid(-1);
  assert.equal(pts[10]!.sweepScore, 1); // the left edge earns exactly tpWeight
  assert.equal(pts[12]!.sweepScore, scaledSigmoid(-3 / 5) / maxTP);
  assert.equal(pts[2]!.sweepScore, -0.11); // before any window: the full penalty
  assert.equal(pts[17]!.sweepScore, scaledSigmoid(3 / 4) * 0.11);
  assert.equal(pts[12]!.windowName, 'f|10000');
  assert.equal(pts[17]!.windowName, null);
  const probation = sweepScores(ts, scores, windows, 'f', standard, 0.15);
  assert.deepEqual(
    probation.slice(0, 4).map((p) => p.windowName),
    ['probationary', 'probationary', 'probationary', null],
  );
});

test('the threshold sweep gives the score of every alert set, highest threshold first', () => {
  const rows = scoresByThreshold(sweepScores(ts, scores, windows, 'f', standard, 0), standard.fnWeight);
  const tp12 = scaledSigmoid(-3 / 5) / scaledSigmoid(-1);
  const fp17 = scaledSigmoid(3 / 4) * 0.11;
  assert.deepEqual(
    rows.map((r) => r.threshold),
    [1.1, 0.9, 0.8, 0.7, 0],
  );
  assert.equal(rows[0]!.score, -1); // nothing alerts: one missed window
  assert.ok(Math.abs(rows[1]!.score - tp12) < 1e-12, 'Math.abs(rows[1]!.score - tp12) < 1e-12');
  assert.ok(
    Math.abs(rows[2]!.score - (tp12 + fp17)) < 1e-12,
    'Math.abs(rows[2]!.score - (tp12 + fp17)) < 1e-12',
  );
  assert.ok(
    Math.abs(rows[3]!.score - (tp12 + fp17 - 0.11)) < 1e-12,
    'Math.abs(rows[3]!.score - (tp12 + fp17 - 0.11)) < 1e-12',
  );
  assert.deepEqual([rows[2]!.tp, rows[2]!.fp, rows[2]!.fn, rows[2]!.tn], [1, 1, 4, 14]);
  // At threshold 0 every row alerts: the window earns its left edge, every other row is an FP.
  assert.equal(rows[4]!.tp + rows[4]!.fp, 20);
});

test('scoreDataSet picks the alert set of a threshold between two distinct scores', () => {
  const at = (x: number) => scoreDataSet(ts, scores, windows, 'f', standard, x, 0).result;
  assert.equal(at(0.85).threshold, 0.9); // rows with score >= 0.85 alert: only row 12
  assert.equal(at(0.9).threshold, 0.9);
  assert.equal(at(2).threshold, 1.1);
  assert.equal(at(-1).threshold, 0); // below every score: everything alerts
});

test('normalisation maps the null detector to 0 and the perfect one to 100', () => {
  assert.equal(normalizeScore(-116, -116, 116), 0);
  assert.equal(normalizeScore(116, -116, 116), 100);
  assert.equal(normalizeScore(-24.0131054891, -116, 116).toFixed(2), '39.65');
});

test('bad inputs are refused with a clear error', () => {
  assert.throws(() => sweepScores(ts, [0], windows, 'f', standard), /different lengths/);
  assert.throws(() => sweepScores(ts, scores, [[10_000, 14_500]], 'f', standard), /not a timestamp/);
});
