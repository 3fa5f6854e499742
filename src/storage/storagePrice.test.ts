/**
 * The market price of a GiB-epoch: the floor up to half of the offered space in use, then rising
 * with the square of utilisation to 4× when full; integers only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { marketPrice } from './storagePrice.ts';

const floor = 10n ** 15n;
const GiB = 2 ** 30;

test('the floor while at most half the offered space is used, or nothing is offered', () => {
  assert.equal(marketPrice(floor, []), floor);
  assert.equal(marketPrice(floor, [{ offeredBytes: GiB, freeBytes: GiB }]), floor);
  assert.equal(marketPrice(floor, [{ offeredBytes: GiB, freeBytes: GiB / 2 }]), floor);
});

test('above the knee it rises with the square of utilisation, 4x when full', () => {
  // 75 % used: (0.75 / 0.5)^2 = 2.25
  assert.equal(marketPrice(floor, [{ offeredBytes: GiB, freeBytes: GiB / 4 }]), (floor * 225n) / 100n);
  assert.equal(marketPrice(floor, [{ offeredBytes: GiB, freeBytes: 0 }]), 4n * floor);
  // Summed over providers: one full, one empty is 50 %: the floor.
  assert.equal(
    marketPrice(floor, [
      { offeredBytes: GiB, freeBytes: 0 },
      { offeredBytes: GiB, freeBytes: GiB },
    ]),
    floor,
  );
  // Monotone in use; free space above the offer counts as the offer.
  let last = 0n;
  for (let free = GiB; free >= 0; free -= GiB / 16) {
    const p = marketPrice(floor, [{ offeredBytes: GiB, freeBytes: free }]);
    assert.ok(p >= last, 'p >= last');
    last = p;
  }
  assert.equal(marketPrice(floor, [{ offeredBytes: GiB, freeBytes: 2 * GiB }]), floor);
});
