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

test('the onnxruntime MatMul solver (built-in ONNX model, CPU EP) answers exactly like the JS solver', async () => {
  const solve = createCapabilitySolver({ gpu: false, log: createLogger('test', { level: 'silent' }) });
  for (const n of [7, 256]) {
    const challenge = makeCapabilityChallenge({
      challengeId: `c-${n}`,
      seed: `seed-${n}`,
      hardwareClass: { ...HARDWARE_CLASSES.cpu!, n },
    });
    const ort = await solve(challenge);
    const js = solveCapabilityChallenge(challenge);
    assert.equal(ort.digest, js.digest, `n=${n}`);
    assert.ok(freivaldsCheck({ challenge, product: ort.product, verifierSeed: 'v' }));
  }
});
