import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  freivaldsCheck,
  HARDWARE_CLASSES,
  makeCapabilityChallenge,
} from '../src/coordinator/verification/capabilityProof.ts';
import { createLogger } from '../src/logger.ts';
import { solveCapabilityChallenge } from '../src/protocol/capabilityChallenge.ts';
import { createCapabilitySolver } from '../src/provider/agent/solveCapability.ts';

test('the onnxruntime chain solver (built-in Loop model, CPU EP) answers bit for bit like the JS solver', async () => {
  const log = createLogger('test', { level: 'silent' });
  // The solver falls back to JS with a warning when onnxruntime cannot run the model: none here.
  const warnings: unknown[] = [];
  log.warn = ((...args: unknown[]) => void warnings.push(args)) as typeof log.warn;
  const solve = createCapabilitySolver({ gpu: false, log });
  for (const [n, k] of [
    [7, 1],
    [7, 5],
    [33, 3],
    [128, 4],
    [256, 1],
  ] as const) {
    const challenge = makeCapabilityChallenge({
      challengeId: `c-${n}-${k}`,
      seed: `seed-${n}-${k}`,
      hardwareClass: { ...HARDWARE_CLASSES.cpu!, n, k },
    });
    const ort = await solve(challenge);
    const js = solveCapabilityChallenge(challenge);
    assert.deepEqual(ort.product, js.product, `n=${n} k=${k}`);
    assert.equal(ort.digest, js.digest, `n=${n} k=${k}`);
    assert.ok(
      freivaldsCheck({ challenge, product: ort.product, verifierSeed: 'v' }),
      "freivaldsCheck({ challenge, product: ort.product, verifierSeed: 'v' })",
    );
  }
  assert.deepEqual(warnings, [], 'onnxruntime solved every challenge');
});

test('on the CPU EP the chain stops once past the budget the challenge names (the answer is then unchecked)', async () => {
  const solve = createCapabilitySolver({ gpu: false, log: createLogger('test', { level: 'silent' }) });
  const challenge = makeCapabilityChallenge({
    challengeId: 'c-stop',
    seed: 'seed-stop',
    hardwareClass: { ...HARDWARE_CLASSES.cpu!, n: 64, k: 40 },
  });
  // Segments of 4 steps: with no budget all 40 run, bit for bit like the JS solver (also across segments).
  const { budgetMs: _b, ...unbounded } = challenge;
  const full = await solve(unbounded);
  assert.equal(full.stoppedAfter, undefined);
  assert.deepEqual(full.product, solveCapabilityChallenge(challenge).product);
  const stopped = await solve({ ...challenge, budgetMs: 1e-6 });
  assert.equal(stopped.stoppedAfter, 4, 'stopped after the first segment');
  assert.deepEqual(stopped.product, solveCapabilityChallenge({ ...challenge, k: 4 }).product);
});
