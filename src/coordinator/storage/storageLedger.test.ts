/**
 * Storage money against a real store (storageLedger.ts): the term held at put, holders paid per
 * proven GiB-epoch (a faulted holder not, a piece paid once per epoch), a receipt paid once, the
 * rest refunded on removal; and a validator's re-check of each entry (checkStorageFacts.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type RetrievalReceiptMessage,
  receiptToWire,
  signRetrievalReceipt,
} from '../../protocol/storageMessages.ts';
import { pieceEpochPay, termEscrow } from '../../storage/storagePrice.ts';
import { checkStorageEntry } from '../../validator/checkStorageFacts.ts';
import { accounts } from '../ledger/accounts.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { redeemReceipt } from './redeemReceipt.ts';
import { holdTerm, payStorageEpoch, postRetrieval, settleRemoval } from './storageLedger.ts';
import { storageDb } from './storageTables.ts';

const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase();

test('term held, proven GiB-epochs paid once to unfaulted holders, receipts paid once, the rest refunded; validators agree', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-ledger-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const reader = privateKeyToAccount(generatePrivateKey());
    const client = reader.address.toLowerCase();
    const [a, b, c, d] = [addr(), addr(), addr(), addr()];
    const objectId = 'cd'.repeat(32);
    const price = 10n ** 21n;
    const pieceBytes = 512 * 1024;
    const row = {
      object_id: objectId,
      client,
      object_bytes: 1024 * 1024,
      data_pieces: 2,
      parity_pieces: 1,
      manifest: '{}',
      epochs: 3,
      price_per_gib_epoch: price.toString(),
      escrow: '0',
      start_epoch: 1,
      status: 'stored' as const,
      created_at: 0,
      updated_at: 0,
      put_request: null,
    };
    const hold = termEscrow({
      objectBytes: 1024 * 1024,
      k: 2,
      m: 1,
      segmentBytes: 32 << 20,
      price,
      epochs: 3,
    });
    const pay = pieceEpochPay(pieceBytes, price);
    assert.equal(hold, 9n * pay);
    await db.insertInto('storage_objects').values(row).execute();
    for (const [idx, holder] of [a, b, c].entries())
      await db
        .insertInto('storage_pieces')
        .values({
          object_id: objectId,
          segment: 0,
          idx,
          root: `0x${String(idx).repeat(64)}`,
          piece_bytes: pieceBytes,
          holder,
          status: 'healthy',
          order_id: null,
          updated_at: 0,
        })
        .execute();
    await holdTerm(db, row, hold, 1, 0);
    await holdTerm(db, row, hold, 1, 0); // a replay holds nothing more
    const bal = async (account: string) => (await readBalances(store.db, { account })).get(account) ?? 0n;
    assert.equal(await bal(accounts.clientStorageEscrow(client)), hold);

    const proof = (idx: number, holder: string, at: number) =>
      db
        .insertInto('storage_proofs')
        .values({ object_id: objectId, segment: 0, idx, root: '0x', holder, window: at, created_at: at })
        .execute();
    // Epoch 1 = [1000, 2000): a and b prove (b twice), c proves then is faulted.
    await proof(0, a, 1100);
    await proof(1, b, 1200);
    await proof(1, b, 1500);
    await proof(2, c, 1300);
    await db
      .insertInto('storage_faults')
      .values({
        object_id: objectId,
        segment: 0,
        idx: 2,
        root: '0x',
        provider: c,
        window: 9,
        reason: 'bad-proof',
        evidence: '{}',
        created_at: 1400,
      })
      .execute();
    const w1 = { epoch: 1, from: 1000, to: 2000 };
    assert.equal(await payStorageEpoch(db, w1, 2000), 2n * pay);
    await payStorageEpoch(db, w1, 2001); // idempotent
    assert.equal(await bal(accounts.providerEarnings(a)), -pay);
    assert.equal(await bal(accounts.providerEarnings(b)), -pay);
    assert.equal(await bal(accounts.providerEarnings(c)), 0n, 'a faulted holder is not paid for the epoch');
    assert.equal(await bal(accounts.clientUnsettled(client)), 2n * pay);
    assert.equal(await bal(accounts.clientStorageEscrow(client)), hold - 2n * pay);

    // A receipt for 1,000 bytes a served, redeemed twice: paid once.
    await db
      .insertInto('storage_receipts')
      .values({
        reader: client,
        server: a,
        object_id: objectId,
        served_bytes: '1000',
        redeemed_bytes: '0',
        updated_at: 0,
      })
      .execute();
    const m: RetrievalReceiptMessage = {
      reader: reader.address,
      server: a as `0x${string}`,
      objectId: `0x${objectId}`,
      cumulativeBytes: 1000n,
      issuedAt: 1n,
    };
    const receipt = receiptToWire(m, await signRetrievalReceipt(reader, 31337, m));
    // The protocol's price per byte (a validator refuses any other: checkStorageFacts.ts).
    const perByte = STORAGE_DEFAULTS.pricePerByte;
    const redeem = () =>
      redeemReceipt({
        db,
        chainId: 31337,
        server: a,
        receipt,
        pricePerByte: perByte,
        now: () => 1500,
        post: (trx, paid) => postRetrieval(trx, { receipt, pricePerByte: perByte, epoch: 1, ...paid }, 1500),
      });
    assert.equal((await redeem()).amount, 1000n * perByte);
    assert.equal((await redeem()).ok, false);
    assert.equal(await bal(accounts.providerEarnings(a)), -pay - 1000n * perByte);

    // Epoch 2: c's piece repaired onto d, which proves it; the client removes the object.
    await proof(2, d, 2500);
    // Removed in epoch 3: epoch 2 has ended but is not closed, so the removal pays it (in epoch 3).
    const refund = await settleRemoval(
      db,
      row,
      [
        { epoch: 2, from: 2000, to: 3000 },
        { epoch: 3, from: 3000, to: 3100 },
      ],
      3,
      3100,
    );
    assert.equal(await bal(accounts.providerEarnings(d)), -pay);
    assert.equal(refund, hold - 3n * pay);
    assert.equal(await bal(accounts.clientStorageEscrow(client)), 0n);
    assert.equal(await bal(accounts.storageTerm(objectId)), 0n);

    // A validator re-checks each entry from its postings and memo.
    const entries = await store.db.selectFrom('ledger_entries').selectAll().orderBy('id').execute();
    const facts: EntryFact[] = [];
    for (const e of entries) {
      const postings = await store.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .execute();
      facts.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
    }
    assert.deepEqual(
      facts.map((f) => f.kind),
      ['storage-hold', 'storage-payment', 'storage-retrieval', 'storage-payment', 'storage-release'],
    );
    const paid = new Map<string, bigint>();
    for (const f of facts) assert.equal(await checkStorageEntry(f, 31337, paid), null, f.ref);
    // Tampered: a holder paid one unit more, a piece listed twice, a forged or replayed receipt.
    const payment = facts[1]!;
    const raised = {
      ...payment,
      postings: payment.postings.map((p) =>
        p.account === accounts.providerEarnings(a) ? { ...p, amount: (BigInt(p.amount) - 1n).toString() } : p,
      ),
    };
    assert.match((await checkStorageEntry(raised, 31337, new Map()))!.fact, /postings/);
    const memo = payment.memo as { pieces: unknown[] };
    const twice = { ...payment, memo: { ...memo, pieces: [...memo.pieces, memo.pieces[0]] } };
    assert.match((await checkStorageEntry(twice, 31337, new Map()))!.fact, /pieces/);
    const retrieval = facts[2]!;
    const stranger = privateKeyToAccount(generatePrivateKey());
    const forgedReceipt = receiptToWire(m, await signRetrievalReceipt(stranger, 31337, m));
    const forged = { ...retrieval, memo: { ...(retrieval.memo as object), receipt: forgedReceipt } };
    assert.equal((await checkStorageEntry(forged, 31337, new Map()))!.claimed, 'forged');
    const replay = new Map(paid);
    assert.match((await checkStorageEntry(retrieval, 31337, replay))!.fact, /fromBytes/);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
