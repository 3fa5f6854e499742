import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ADVERTISED_CACHE } from '../../protocol/constants.ts';
import { addsWithinBound, advertisedAtAuth, CACHE_IDS_PER_MESSAGE, cacheAdvert } from './cacheAdvert.ts';

const cids = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(64, '0'));

test('a cache message never takes the advertised set over the bound; removals make room', () => {
  assert.equal(addsWithinBound(cids(0, 10), [], 0).length, 10);
  assert.equal(addsWithinBound(cids(0, 10), [], MAX_ADVERTISED_CACHE - 3).length, 3);
  assert.equal(addsWithinBound(cids(0, 10), [], MAX_ADVERTISED_CACHE).length, 0);
  assert.equal(addsWithinBound(cids(0, 10), cids(100, 4), MAX_ADVERTISED_CACHE).length, 4);
  assert.equal(addsWithinBound(cids(0, 5000), [], 0).length, MAX_ADVERTISED_CACHE);
});

test('at authentication the most recently used blobs are advertised, as many as fit one frame', () => {
  const list = cids(0, CACHE_IDS_PER_MESSAGE + 10); // least recently used first
  const advertised = advertisedAtAuth(list);
  assert.equal(advertised.length, CACHE_IDS_PER_MESSAGE);
  // 2,048 cids of 67 bytes ("…",) leave over 100 KiB of a 256 KiB frame for the rest of the auth.
  assert.ok(JSON.stringify(advertised).length < 140 * 1024, 'the advert fits well inside one frame');
  assert.equal(advertised[0], list[10]);
  assert.equal(advertised.at(-1), list.at(-1));
  assert.deepEqual(advertisedAtAuth(cids(0, 3)), cids(0, 3));
});

test('a cache message carries at most CACHE_IDS_PER_MESSAGE cids; the rest waits for the next', () => {
  const advertised = new Set(cids(0, MAX_ADVERTISED_CACHE - 10));
  const gone = cids(0, 3000); // evicted
  const fresh = cids(100_000, 50); // entered
  const changed = [...gone, ...fresh];
  const has = (cid: string) => !gone.includes(cid);
  const first = cacheAdvert(changed, has, advertised);
  assert.equal(first.removed.length, CACHE_IDS_PER_MESSAGE);
  assert.equal(first.added.length, 0);
  assert.equal(first.handled.length, CACHE_IDS_PER_MESSAGE);
  for (const cid of first.removed) advertised.delete(cid);
  const second = cacheAdvert(changed.slice(CACHE_IDS_PER_MESSAGE), has, advertised);
  assert.equal(second.removed.length, 3000 - CACHE_IDS_PER_MESSAGE);
  assert.equal(second.added.length, 50);
  // At the bound, adds are cut: 10 free places, no removals.
  const full = cacheAdvert(cids(200_000, 30), () => true, new Set(cids(0, MAX_ADVERTISED_CACHE - 10)));
  assert.equal(full.added.length, 10);
  assert.equal(full.handled.length, 30);
});
