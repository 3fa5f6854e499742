import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ERASURE, DEFAULT_REPAIR_THRESHOLD } from '../../storage/erasure.ts';
import { choosePlacement, repairThreshold } from './choosePlacement.ts';

test('pieces go to distinct providers, regions spread, full and excluded ones skipped', () => {
  const c = [
    { address: 'a', region: 'eu', freeBytes: 100 },
    { address: 'b', region: 'eu', freeBytes: 300 },
    { address: 'c', region: 'us', freeBytes: 200 },
    { address: 'd', region: 'ap', freeBytes: 5 },
    { address: 'e', region: 'us', freeBytes: 50 },
  ];
  assert.deepEqual(choosePlacement(c, 3, 10), ['b', 'c', 'a']);
  assert.deepEqual(choosePlacement(c, 10, 10), ['b', 'c', 'a', 'e']);
  assert.deepEqual(choosePlacement(c, 2, 10, new Set(['b'])), ['a', 'c']);
  assert.deepEqual(choosePlacement(c, 1, 10, new Set(), new Map([['eu', 1]])), ['c']);
});

test('the repair threshold is the documented default at K = M = 16', () => {
  assert.equal(
    repairThreshold(DEFAULT_ERASURE.dataPieces, DEFAULT_ERASURE.parityPieces),
    DEFAULT_REPAIR_THRESHOLD,
  );
  assert.equal(repairThreshold(4, 2), 5);
  assert.equal(repairThreshold(10, 4), 12);
});
