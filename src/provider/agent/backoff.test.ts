import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from './backoff.ts';

test('backoff grows exponentially, is capped, and is fully jittered', () => {
  assert.equal(backoffDelay(0, { random: () => 0.999999 }), 249);
  assert.equal(backoffDelay(3, { random: () => 0.5 }), 1000);
  assert.equal(backoffDelay(50, { random: () => 0.999999 }), 29_999);
  assert.equal(backoffDelay(5, { random: () => 0 }), 0);
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(6)));
  assert.ok(spread.size > 10, 'delays differ between providers');
});
