import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  freivaldsCheck,
  HARDWARE_CLASSES,
  makeCapabilityChallenge,
  solveCapabilityChallenge,
} from '../../coordinator/verification/capabilityProof.ts';
import { createLogger } from '../../logger.ts';
import { createCapabilitySolver } from './solveCapability.ts';

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
    assert.ok(freivaldsCheck({ challenge, product: ort.product, verifierSeed: 'v' }));
  }
  assert.deepEqual(warnings, [], 'onnxruntime solved every challenge');
});
