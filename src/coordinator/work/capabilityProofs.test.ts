import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimedHardwareClass } from './capabilityProofs.ts';

test('the claimed hardware class follows the signed claim: CUDA with a GPU, sized by its memory', () => {
  const cpu = { gpus: [], executionProviders: ['cpu'] };
  assert.equal(claimedHardwareClass(cpu).id, 'cpu');
  const gpu = (memoryMiB: number) => ({
    gpus: [{ name: 'g', memoryMiB }],
    executionProviders: ['cuda', 'cpu'],
  });
  assert.equal(claimedHardwareClass(gpu(24_564)).id, 'gpu-consumer');
  assert.equal(claimedHardwareClass(gpu(81_559)).id, 'gpu-datacenter');
  // A GPU without the CUDA execution provider (or CUDA without a GPU) is not offered as one.
  assert.equal(
    claimedHardwareClass({ gpus: [{ name: 'g', memoryMiB: 8192 }], executionProviders: ['cpu'] }).id,
    'cpu',
  );
  assert.equal(claimedHardwareClass({ gpus: [], executionProviders: ['cuda'] }).id, 'cpu');
});
