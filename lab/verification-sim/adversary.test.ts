import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareTensorSets } from '../../src/coordinator/verification/compareTensors.ts';
import { Rng } from '../../src/protocol/rng.ts';
import type { TensorSet } from '../../src/protocol/tensorSet.ts';
import { executeAs } from './adversary.ts';

const truth: TensorSet = {
  y: { dtype: 'float32', shape: [64], data: Float32Array.from({ length: 64 }, (_, i) => Math.cos(i) * 3) },
};

test('honest noise stays within the default tolerances; cheating outputs do not', () => {
  const rng = new Rng('adv');
  for (let i = 0; i < 200; i++) {
    const a = executeAs({ kind: 'honest', noise: 1e-3 }, truth, rng);
    const b = executeAs({ kind: 'honest', noise: 1e-6 }, truth, rng);
    assert.ok(
      a.action === 'output' && b.action === 'output',
      "a.action === 'output' && b.action === 'output'",
    );
    assert.ok(compareTensorSets(a.tensors, b.tensors).ok, 'compareTensorSets(a.tensors, b.tensors).ok');
  }
  for (const kind of ['always-wrong', 'lazy'] as const) {
    const act = executeAs(kind === 'lazy' ? { kind, mode: 'zeros' } : { kind }, truth, rng);
    assert.ok(
      act.action === 'output' && !compareTensorSets(act.tensors, truth).ok,
      "act.action === 'output' && !compareTensorSets(act.tensors, truth).ok",
    );
  }
  assert.equal(executeAs({ kind: 'copycat' }, truth, rng).action, 'copy');
});

test('probabilistic behaviours hit their rates', () => {
  const rng = new Rng('rates');
  let wrong = 0;
  let gone = 0;
  for (let i = 0; i < 5000; i++) {
    const w = executeAs({ kind: 'wrong-sometimes', p: 0.1 }, truth, rng);
    if (w.action === 'output' && !compareTensorSets(w.tensors, truth).ok) wrong++;
    if (executeAs({ kind: 'disconnect', p: 0.3 }, truth, rng).action === 'abandon') gone++;
  }
  assert.ok(Math.abs(wrong / 5000 - 0.1) < 0.015, `wrong ${wrong}`);
  assert.ok(Math.abs(gone / 5000 - 0.3) < 0.025, `gone ${gone}`);
});
