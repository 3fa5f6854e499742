import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSendBuffers } from './blobRoutes.ts';

const MiB = 1024 * 1024;

test('send buffers are reused by size, kept within their limit, and refused past the in-use limit', () => {
  const pool = createSendBuffers(8 * MiB, 12 * MiB);
  const a = pool.take(6_000_000)!;
  assert.equal(a.length, 8 * MiB, 'a power of two from 1 MiB');
  const b = pool.take(100)!;
  assert.equal(b.length, MiB);
  assert.equal(pool.take(5 * MiB), undefined, 'more than 12 MiB out at once: the caller streams instead');
  pool.give(b);
  pool.give(a);
  assert.deepEqual(
    pool.stats(),
    { freeBytes: MiB, inUse: 0, free: 1 },
    'the 8 MiB one did not fit what is kept',
  );
  assert.equal(pool.take(500_000), b, 'the free buffer is reused');
  pool.drop(b);
  assert.deepEqual(pool.stats(), { freeBytes: 0, inUse: 0, free: 0 }, 'a dropped buffer is not counted');
});
