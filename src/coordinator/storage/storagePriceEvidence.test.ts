/**
 * The storage price per GiB-epoch, re-derived by validators (docs/validators.md "Storage price"):
 * the put's `storage-hold` entry carries the offers the coordinator priced it over, the floor, the
 * price and the client's signed put (pricePut.ts, storageLedger.ts `holdTerm`); a validator
 * (validator/checkStoragePrice.ts) recomputes `marketPrice`, refuses an invented or inconsistent
 * offer, a price above the client's signed cap, and a later payment of the term at another price.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signStorageRequest, storageRequestFromWire } from '../../protocol/storageMessages.ts';
import { checkStorageEntry } from '../../validator/checkStorageFacts.ts';
import type { StoragePriceContext } from '../../validator/checkStoragePrice.ts';
import { openValidatorStore } from '../../validator/validatorStore.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { openStore } from '../store/openStore.ts';
import { pricePut } from './pricePut.ts';
import { holdTerm, payStorageEpoch } from './storageLedger.ts';
import { storageDb } from './storageTables.ts';

const GiB = 2 ** 30;
const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase();

test('a put is priced from offers its hold carries; validators recompute it, cap it by the signed put, and hold its payments to it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-price-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const owner = privateKeyToAccount(generatePrivateKey());
    const client = owner.address.toLowerCase();
    const objectId = 'ab'.repeat(32);
    const [a, b, c] = [addr(), addr(), addr()];
    const floor = 10n ** 15n;
    // 75 % of the offered space used: 2.25× the floor (storagePrice.ts).
    const sessions = [
      { address: a, offer: { offeredBytes: GiB, freeBytes: GiB, pieces: [] }, freeBytes: GiB / 4 },
      { address: b, offer: { offeredBytes: GiB, freeBytes: GiB, pieces: [] }, freeBytes: GiB / 4 },
    ];
    const cap = 3n * floor;
    const put = await signStorageRequest(owner, 31337, {
      action: 'put',
      objectId: `0x${objectId}`,
      dataPieces: 1,
      parityPieces: 1,
      epochs: 2,
      maxPricePerGiBEpoch: cap,
    });
    const req = storageRequestFromWire(put).message;
    const { price, pricing } = pricePut(floor, sessions, req);
    assert.equal(price, (floor * 225n) / 100n, 'priced 2.25× the floor at 75 % used');
    assert.throws(
      () => pricePut(floor, sessions, { maxPricePerGiBEpoch: 2n * floor }),
      /PLX_STORAGE_PRICE_ABOVE_MAX|storage costs/,
      'a put whose signed cap is below the price is refused',
    );
    const row = {
      object_id: objectId,
      client,
      object_bytes: 1024,
      data_pieces: 1,
      parity_pieces: 1,
      manifest: '{}',
      epochs: 2,
      price_per_gib_epoch: price.toString(),
      escrow: '0',
      start_epoch: 1,
      status: 'stored' as const,
      created_at: 0,
      updated_at: 0,
      put_request: JSON.stringify(put),
    };
    await db.insertInto('storage_objects').values(row).execute();
    await db
      .insertInto('storage_pieces')
      .values({
        object_id: objectId,
        segment: 0,
        idx: 0,
        root: `0x${'1'.repeat(64)}`,
        piece_bytes: 1 << 20,
        holder: a,
        status: 'healthy',
        order_id: null,
        updated_at: 0,
      })
      .execute();
    await holdTerm(db, row, 10n ** 18n, 1, 0, { pricing, owner: put });
    await db
      .insertInto('storage_proofs')
      .values({ object_id: objectId, segment: 0, idx: 0, root: '0x', holder: a, window: 1, created_at: 1100 })
      .execute();
    await payStorageEpoch(db, { epoch: 1, from: 1000, to: 2000 }, 2000);
    const facts: EntryFact[] = [];
    for (const e of await store.db.selectFrom('ledger_entries').selectAll().orderBy('id').execute()) {
      const postings = await store.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .execute();
      facts.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
    }
    assert.deepEqual(
      facts.map((f) => f.kind),
      ['storage-hold', 'storage-payment'],
    );
    const [hold, payment] = facts as [EntryFact, EntryFact];
    const ctx = (over: Partial<StoragePriceContext> = {}): StoragePriceContext => ({
      required: true,
      online: new Set([a, b, c]),
      prices: new Map(),
      ...over,
    });
    const check = (e: EntryFact, x: StoragePriceContext) => checkStorageEntry(e, 31337, new Map(), x);

    // Honest: the hold and the term's payment pass, and the object's price is kept.
    const honest = ctx();
    assert.equal(await check(hold, honest), null, 'the honest hold passes');
    assert.equal(honest.prices.get(objectId), price, 'the price is kept for the term');
    assert.equal(await check(payment, honest), null, 'the honest payment passes');

    const memo = hold.memo as { pricing: typeof pricing; owner: typeof put };
    const withPricing = (p: Partial<typeof pricing>, extra: object = {}): EntryFact => ({
      ...hold,
      memo: { ...memo, pricing: { ...memo.pricing, ...p }, ...extra },
    });
    const refused = async (e: EntryFact, fact: RegExp, why: string, x = ctx()) => {
      const d = await check(e, x);
      assert.ok(d, `refused: ${why}`);
      assert.match(d.fact, fact, `${why}: named ${d.fact}`);
      return d;
    };
    // The price raised above what the offers give.
    const raised = await refused(
      withPricing({ pricePerGiBEpoch: (price + 1n).toString() }),
      /storage:hold:.*\.pricing\.pricePerGiBEpoch$/,
      'a price the offers do not give',
    );
    assert.equal(raised.recomputed, price.toString(), 'the dispute shows the recomputed price');
    // An offer made fuller to raise the price: the claimed price no longer matches.
    const fuller = memo.pricing.offers.map((o, i) => (i === 0 ? { ...o, freeBytes: 0 } : o));
    await refused(withPricing({ offers: fuller }), /\.pricing\.pricePerGiBEpoch$/, 'an offer changed');
    // An invented provider's full offer, price recomputed to match: not connected in this epoch.
    const invented = [...memo.pricing.offers, { provider: addr(), offeredBytes: 10 * GiB, freeBytes: 0 }];
    await refused(
      withPricing({ offers: invented, pricePerGiBEpoch: (4n * floor).toString() }),
      /\.pricing\.offers\[2\]\.provider$/,
      'an offer of a provider with no session',
    );
    // The same provider listed twice, or free space above the offer.
    await refused(
      withPricing({ offers: [memo.pricing.offers[0]!, memo.pricing.offers[0]!] }),
      /\.pricing\.offers\[1\]\.provider$/,
      'a provider listed twice',
    );
    await refused(
      withPricing({ offers: [{ ...memo.pricing.offers[0]!, freeBytes: 2 * GiB }] }),
      /\.pricing\.offers\[0\]\.freeBytes$/,
      'more free than offered',
    );
    // Consistent offers whose price is above the client's signed cap (3× the floor).
    const full = memo.pricing.offers.map((o) => ({ ...o, freeBytes: 0 }));
    const capped = await refused(
      withPricing({ offers: full, pricePerGiBEpoch: (4n * floor).toString() }),
      /\.pricing\.pricePerGiBEpoch$/,
      "a price above the client's signed cap",
    );
    assert.match(capped.recomputed, new RegExp(`cap ${cap}`), 'the dispute names the cap');
    // The put signed by someone else, or none: the cap is the client's own.
    const other = await signStorageRequest(privateKeyToAccount(generatePrivateKey()), 31337, {
      action: 'put',
      objectId: `0x${objectId}`,
      maxPricePerGiBEpoch: 100n * floor,
    });
    await refused(withPricing({}, { owner: other }), /\.owner$/, 'a put not signed by the client');
    await refused(
      { ...hold, memo: { ...memo, pricing: memo.pricing, owner: undefined } },
      /\.owner$/,
      'no put',
    );
    // No pricing at all: refused from version 8; before, accepted and the price unknown.
    const bare: EntryFact = { ...hold, memo: { client, objectId } };
    await refused(bare, /\.pricing$/, 'a version-8 hold without its pricing');
    const legacy = ctx({ required: false });
    assert.equal(await check(bare, legacy), null, 'an older bundle’s hold is accepted');
    // A payment of the term at twice its hold's price, its postings consistent with its memo: what
    // an older bundle's payment is checked against (its memo) passes it; the put's price does not.
    const pm = payment.memo as { pricePerGiBEpoch: string };
    const dearer: EntryFact = {
      ...payment,
      memo: { ...pm, pricePerGiBEpoch: (price * 2n).toString() },
      postings: payment.postings.map((p) => ({ ...p, amount: (BigInt(p.amount) * 2n).toString() })),
    };
    assert.equal(await check(dearer, legacy), null, 'checked against its memo only, it passes');
    const named = await refused(
      dearer,
      /storage:pay:.*\.pricePerGiBEpoch$/,
      'a payment at another price',
      honest,
    );
    assert.match(named.recomputed, new RegExp(`^${price} `), "named with the put's price");
    // In a later bundle: the price a signed bundle kept (the validator's store) is the one held to.
    const vstore = openValidatorStore(':memory:');
    try {
      vstore.rememberStoragePrices('c', 1, [...honest.prices]);
      const later = ctx({ remembered: (o) => vstore.storagePrice('c', o, 2) });
      assert.equal(await check(payment, later), null, 'a later payment at the put price passes');
      await refused(dearer, /\.pricePerGiBEpoch$/, 'a later payment at another price', later);
      assert.equal(vstore.storagePrice('c', objectId, 1), undefined, 'only epochs before are read');
    } finally {
      vstore.close();
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
