/**
 * The provider index's heaps: what a cache change costs (heap pushes and compaction work, counted,
 * not timed: review s12 F1, where a `cache` message of n new cids re-published the provider in
 * every heap of every cid it cached, O(n · |cached|)), and that picks stay exact under random
 * cache, lease and fleet changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLoadIndex, type IndexedProvider, ops } from './loadIndex.ts';

const cid = (i: number) => i.toString(16).padStart(64, '0');
const req = (model: string) => ({ model, minMemoryMiB: 0, gpu: false });

test('a cache change costs O(1) heap pushes however much the provider caches (amortized compaction included)', () => {
  const index = createLoadIndex();
  const cached = Array.from({ length: 1000 }, (_, i) => cid(i));
  index.upsert({ address: '0xa', slots: 4, memoryMiB: 8192, gpu: false, cached });
  index.upsert({ address: '0xb', slots: 4, memoryMiB: 8192, gpu: false, cached: cached.slice(0, 10) });
  // The attack's shape: message after message of new cids (1,000 each), then some removed.
  const pushes0 = ops.pushes;
  const compacted0 = ops.compacted;
  let changes = 0;
  for (let m = 0; m < 3; m++) {
    for (let i = 0; i < 1000; i++) {
      index.setCached('0xa', cid(10_000 + m * 1000 + i), true);
      changes++;
    }
  }
  for (let i = 0; i < 1000; i++) {
    index.setCached('0xa', cid(10_000 + i), false);
    changes++;
  }
  const pushes = ops.pushes - pushes0;
  const compacted = ops.compacted - compacted0;
  // One push per added cid (a removal pushes nothing). The old index pushed one item per cid the
  // provider already cached for each cid added: Σ (1,000 + i) for i < 3,000 ≈ 7.5 million here.
  assert.ok(pushes <= 3000, `${pushes} heap pushes for ${changes} changes`);
  assert.ok(compacted <= 4 * changes, `${compacted} items compacted for ${changes} changes`);
  // The model heaps still answer: both holders of an old cid, one of a new one, none of a removed one.
  assert.deepEqual(
    index.leastLoaded(req(cid(5)), 3, true).map((e) => e.address),
    ['0xa', '0xb'],
  );
  assert.deepEqual(
    index.leastLoaded(req(cid(10_000 + 1000)), 3, true).map((e) => e.address),
    ['0xa'],
  );
  assert.deepEqual(index.leastLoaded(req(cid(10_000)), 3, true), []);
});

test('a cid added and removed over and over keeps its heap small and the provider listed once', () => {
  const index = createLoadIndex();
  index.upsert({ address: '0xa', slots: 2, memoryMiB: 8192, gpu: false, cached: [] });
  const m = cid(1);
  const compacted0 = ops.compacted;
  for (let i = 0; i < 20_000; i++) {
    index.setCached('0xa', m, true);
    index.setCached('0xa', m, false);
  }
  index.setCached('0xa', m, true);
  // Each compaction looks at a heap of at most 4 · holders + 16 items: bounded work per change.
  assert.ok(ops.compacted - compacted0 <= 20 * 20_000, 'compaction work stays linear in the changes');
  assert.deepEqual(
    index.leastLoaded(req(m), 5, true).map((e) => e.address),
    ['0xa'],
  );
  index.setCached('0xa', m, false);
  assert.deepEqual(index.leastLoaded(req(m), 5, true), []);
});

test('a lease change still re-publishes the provider in every model heap it belongs to', () => {
  const index = createLoadIndex();
  const m = cid(7);
  index.upsert({ address: '0xa', slots: 1, memoryMiB: 8192, gpu: false, cached: [] });
  index.upsert({ address: '0xb', slots: 2, memoryMiB: 8192, gpu: false, cached: [m] });
  const a = index.providers.get('0xa')!;
  index.lease(a, 1); // full: in no heap
  index.setCached('0xa', m, true); // added while full: nothing to push yet
  assert.deepEqual(
    index.leastLoaded(req(m), 2, true).map((e) => e.address),
    ['0xb'],
  );
  index.lease(a, -1); // a slot frees: back in the model's heap, least loaded
  index.lease(index.providers.get('0xb')!, 1);
  assert.deepEqual(
    index.leastLoaded(req(m), 2, true).map((e) => e.address),
    ['0xa', '0xb'],
  );
});

test('picks stay exact under random cache, lease and fleet changes', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const index = createLoadIndex();
  const addresses = Array.from({ length: 12 }, (_, i) => `0x${i.toString(16).padStart(2, '0')}`);
  const models = Array.from({ length: 5 }, (_, i) => cid(100 + i));
  const expected = (model: string | undefined, k: number): string[] =>
    [...index.providers.values()]
      .filter((e: IndexedProvider) => e.active < e.slots && (model === undefined || e.cached.has(model)))
      .sort((x, y) => x.active / x.slots - y.active / y.slots || (x.address < y.address ? -1 : 1))
      .slice(0, k)
      .map((e) => e.address);
  for (let step = 0; step < 20_000; step++) {
    const address = addresses[rnd(addresses.length)]!;
    const e = index.providers.get(address);
    const op = rnd(10);
    if (!e || op === 0) {
      const cached = models.filter(() => rnd(2) === 0);
      index.upsert({ address, slots: 1 + rnd(4), memoryMiB: 8192, gpu: false, cached });
    } else if (op === 1) index.remove(address);
    else if (op <= 4) {
      if (e.active < e.slots && rnd(2) === 0) index.lease(e, 1);
      else if (e.active > 0) index.lease(e, -1);
    } else index.setCached(address, models[rnd(models.length)]!, rnd(2) === 0);
    const model = models[rnd(models.length)]!;
    const k = 1 + rnd(4);
    assert.deepEqual(
      index.leastLoaded(req(model), k, true).map((x) => x.address),
      expected(model, k),
      `step ${step}: cached-only pick of ${k}`,
    );
    assert.deepEqual(
      index.leastLoaded(req(model), k, false).map((x) => x.address),
      expected(undefined, k),
      `step ${step}: pick of ${k}`,
    );
  }
});
