import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../rng.ts';
import { MeanRuntimeEstimator, RuntimePredictor } from './runtimePredictor.ts';

test('a first observation sets the level; work scales the prediction', () => {
  const p = new RuntimePredictor();
  p.observe('a', 'resnet', 120, 100);
  assert.ok(
    Math.abs(p.predict('a', 'resnet', 50) - 60) < 1e-9,
    "Math.abs(p.predict('a', 'resnet', 50) - 60) < 1e-9",
  );
  assert.ok(
    Math.abs(p.predict('a', 'resnet') - 1.2) < 1e-9,
    "Math.abs(p.predict('a', 'resnet') - 1.2) < 1e-9",
  );
});

test('invalid measurements are ignored', () => {
  const p = new RuntimePredictor();
  for (const s of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) p.observe('a', 'w', s);
  assert.equal(p.observations, 0);
});

test('stragglers barely move the robust estimate but drag a running mean', () => {
  const rng = createRng(5);
  const robust = new RuntimePredictor();
  const mean = new MeanRuntimeEstimator();
  for (let i = 0; i < 400; i++) {
    // True: 10 s per unit ±5%; one run in ten straggles 10×.
    let s = 10 * (0.95 + 0.1 * rng.next());
    if (rng.next() < 0.1) s *= 10;
    robust.observe('node', 'bert', s);
    mean.observe('node', 'bert', s);
  }
  const r = robust.predict('node', 'bert');
  const m = mean.predict('node', 'bert');
  assert.ok(Math.abs(r / 10 - 1) < 0.15, `robust ${r}`);
  assert.ok(m / 10 > 1.5, `mean ${m}`);
});

test('provider speed learned on one workload carries over to another (factorised model)', () => {
  const rng = createRng(9);
  const p = new RuntimePredictor();
  const speed: Record<string, number> = { fast: 2, slow: 0.5 };
  const unit: Record<string, number> = { a: 10, b: 40 };
  for (let i = 0; i < 300; i++) {
    const node = rng.next() < 0.5 ? 'fast' : 'slow';
    // 'b' is only ever measured on the slow node.
    const w = node === 'slow' && rng.next() < 0.5 ? 'b' : 'a';
    p.observe(node, w, (unit[w]! / speed[node]!) * Math.exp(0.05 * (rng.next() - 0.5)));
  }
  const fastOnB = p.predict('fast', 'b');
  assert.ok(Math.abs(fastOnB / 20 - 1) < 0.25, `fast on b predicted ${fastOnB}, true 20`);
  assert.ok(
    p.speedup('fast', 'a') > 1.5 && p.speedup('slow', 'a') < 0.8,
    "p.speedup('fast', 'a') > 1.5 && p.speedup('slow', 'a') < 0.8",
  );
});
