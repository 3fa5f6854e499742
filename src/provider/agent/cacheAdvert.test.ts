import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ADVERTISED_CACHE } from '../../protocol/constants.ts';
import { addsWithinBound, advertisedAtAuth, CACHE_IDS_PER_MESSAGE } from './cacheAdvert.ts';

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
  assert.ok(JSON.stringify(advertised).length < 140 * 1024);
  assert.equal(advertised[0], list[10]);
  assert.equal(advertised.at(-1), list.at(-1));
  assert.deepEqual(advertisedAtAuth(cids(0, 3)), cids(0, 3));
});
