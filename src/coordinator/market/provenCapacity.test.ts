import assert from 'node:assert/strict';
import { test } from 'node:test';
import { provenCapacity } from './provenCapacity.ts';

test('capacity is the GFLOP/s of a passing proof, and 0 for anything else', () => {
  assert.equal(provenCapacity(JSON.stringify({ class: 'cpu', proven: true, gflops: 2.5 })), 2.5);
  assert.equal(provenCapacity(JSON.stringify({ class: 'gpu-consumer', proven: false, gflops: 40 })), 0);
  assert.equal(provenCapacity(JSON.stringify({ proven: true, gflops: null })), 0);
  assert.equal(provenCapacity(null), 0);
  assert.equal(provenCapacity('not json'), 0);
});
