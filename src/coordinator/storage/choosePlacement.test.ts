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

test('identities on one network get one piece while other networks can take the rest, whatever regions and free space they claim', () => {
  // The security review's ring (docs/storage.md "Limits and abuse"): 32 identities from one /24,
  // each claiming its own region and a huge disk, against 30 honest providers in 3 regions. On the
  // old code (regions and free space only) the ring got 29 of 32 pieces; now one per network
  // while fresh networks remain, so 2 (the 32nd piece has only used networks left).
  const ring = Array.from({ length: 32 }, (_, i) => ({
    address: `ring${i}`,
    region: `zz-${i}`,
    freeBytes: 1e15,
    prefix: '198.51.7/24',
  }));
  const honest = Array.from({ length: 30 }, (_, i) => ({
    address: `honest${i}`,
    region: `r${i % 3}`,
    freeBytes: 1e9,
    prefix: `203.${i}.9/24`,
  }));
  const chosen = choosePlacement([...ring, ...honest], 32, 1 << 20);
  assert.equal(chosen.length, 32, 'every piece placed');
  assert.equal(new Set(chosen).size, 32, 'on distinct providers');
  const ringPieces = chosen.filter((a) => a.startsWith('ring')).length;
  assert.ok(ringPieces <= 2, `the ring got ${ringPieces} of 32 pieces`);
  // A repair: the ring already holds a piece of the object (in `exclude`), so its network is used.
  const [next] = choosePlacement([...ring, ...honest], 1, 1 << 20, new Set(['ring0', 'honest0']));
  assert.ok(next?.startsWith('honest'), `a repaired piece goes to another network, got ${next}`);
  // Loopback and private sessions (devnets, tests) say nothing: placement as before.
  const local = [
    { address: 'a', region: 'eu', freeBytes: 100, prefix: null },
    { address: 'b', region: 'eu', freeBytes: 300, prefix: null },
    { address: 'c', region: 'us', freeBytes: 200, prefix: null },
  ];
  assert.deepEqual(choosePlacement(local, 3, 10), ['b', 'c', 'a']);
});
