import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AggregationConfig } from '../../protocol/training.ts';
import { aggregate, centeredClip, coordinateMedian, mean, trimmedMean } from './aggregation.ts';
import { closeRound, initialOuterState } from './dilocoRound.ts';

const v = (...xs: number[]) => Float32Array.from(xs);
const rule = (r: AggregationConfig['rule']): AggregationConfig => ({
  rule: r,
  trimFraction: 0.25,
  clipIterations: 3,
});

test('mean, median and trimmed mean per coordinate', () => {
  const ups = [v(1, 10), v(2, 20), v(3, 30), v(100, -1000)];
  assert.deepEqual([...mean(ups)], [26.5, -235]);
  // Even count: the mean of the two middle values.
  assert.deepEqual([...coordinateMedian(ups)], [2.5, 15]);
  assert.deepEqual([...coordinateMedian([v(5), v(1), v(3)])], [3]);
  // Trim 1 at each end of 4: the two middle values.
  assert.deepEqual([...trimmedMean(ups, 1)], [2.5, 15]);
  assert.deepEqual([...trimmedMean(ups, 0)], [...mean(ups)]);
  assert.throws(() => trimmedMean(ups, 2), /cannot trim/);
});

test('the robust rules ignore 2 of 8 workers sending −10× their update; the mean does not', () => {
  const honest = Array.from({ length: 6 }, (_, i) => v(1 + i * 0.01, -2 - i * 0.01, 0.5));
  const byz = [v(-10, 20, -5), v(-10.1, 20.1, -5)];
  const ups = [...honest, ...byz];
  const truth = mean(honest);
  for (const r of ['median', 'trimmed-mean', 'centered-clip'] as const) {
    const got = aggregate(ups, rule(r));
    // Same sign as the honest mean on every coordinate, and close to it.
    for (let i = 0; i < 3; i++) {
      assert.ok(
        Math.sign(got[i] as number) === Math.sign(truth[i] as number),
        `${r} coordinate ${i}: ${got[i]}`,
      );
      assert.ok(
        Math.abs((got[i] as number) - (truth[i] as number)) < 0.6 * Math.abs(truth[i] as number),
        `${r} ${i}`,
      );
    }
  }
  const plain = aggregate(ups, rule('mean'));
  assert.ok((plain[0] as number) < 0, 'the plain mean is dragged past zero by the two cheaters');
});

test('centered clipping bounds each worker’s pull to τ around the centre', () => {
  const ups = [v(1, 0), v(1, 0), v(1, 0), v(1000, 0)];
  const out = centeredClip(ups, v(0, 0), 1);
  // τ = median distance = 1: the outlier moves the centre by at most τ/n = 0.25.
  assert.ok(Math.abs((out[0] as number) - 1) <= 0.25 + 1e-6, String(out[0]));
  // clipRadius ρ scales τ: with ρ = 0.5 the outlier's pull is at most 0.5·τ/n = 0.125.
  const tight = centeredClip(ups, v(0, 0), 1, 0.5);
  assert.ok(Math.abs((tight[0] as number) - 0.375 - 0.125) <= 1e-6, String(tight[0]));
  assert.deepEqual(
    [...aggregate(ups, { ...rule('centered-clip'), clipIterations: 1, clipRadius: 0.5 }, v(0, 0))],
    [...tight],
  );
  // Without outliers and enough iterations it reaches the mean.
  const same = centeredClip([v(2, 2), v(2, 2)], v(0, 0), 1);
  assert.deepEqual([...same], [2, 2]);
});

test('outer step: SGD with Nesterov momentum on the aggregate, state carried across rounds', () => {
  const weights = { w: { dtype: 'float32' as const, shape: [2], data: v(1, 1) } };
  const s0 = initialOuterState(weights);
  const delta = { w: { dtype: 'float32' as const, shape: [2], data: v(0.1, -0.2) } };
  const outer = { lr: 0.5, momentum: 0.9 };
  const r1 = closeRound(s0, [delta, delta], rule('mean'), outer);
  // m = 0.1; θ = 1 − 0.5·(0.1 + 0.9·0.1) = 0.905
  assert.ok(
    Math.abs((r1.state.weights.w?.data[0] as number) - 0.905) < 1e-6,
    'Math.abs((r1.state.weights.w?.data[0] as number) - 0.905) < 1e-6',
  );
  assert.ok(
    Math.abs((r1.state.momentum.w?.data[0] as number) - 0.1) < 1e-7,
    'Math.abs((r1.state.momentum.w?.data[0] as number) - 0.1) < 1e-7',
  );
  const r2 = closeRound(r1.state, [delta], rule('mean'), outer);
  // m = 0.9·0.1 + 0.1 = 0.19; θ = 0.905 − 0.5·(0.1 + 0.9·0.19) = 0.7695
  assert.ok(
    Math.abs((r2.state.weights.w?.data[0] as number) - 0.7695) < 1e-6,
    'Math.abs((r2.state.weights.w?.data[0] as number) - 0.7695) < 1e-6',
  );
  // Second coordinate: θ = 1 + 0.5·(0.2 + 0.18) = 1.19, then 1.19 + 0.5·(0.2 + 0.9·0.38) = 1.461
  assert.ok(
    Math.abs((r2.state.weights.w?.data[1] as number) - 1.461) < 1e-5,
    'Math.abs((r2.state.weights.w?.data[1] as number) - 1.461) < 1e-5',
  );
  assert.throws(() => closeRound(s0, [{ other: delta.w }], rule('mean'), outer), /lacks float32 tensor w/);
});
