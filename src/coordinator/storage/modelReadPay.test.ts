/**
 * A provider's read of a job's model, paid like any read (storageLedger.ts `postRetrieval` with a
 * payer, checkStorageFacts.ts): the provider signs the receipts, the server redeems them, and the
 * model's owner (the job's client) is charged, not the reader. A validator re-derives the entry; a
 * charge moved to the reader or to a stranger, a payer without the job-model basis, and a forged
 * or replayed model-read receipt are disputed or refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signStorageRequest } from '../../protocol/storageMessages.ts';
import { createReceiptSigner } from '../../storage/receiptSigner.ts';
import { checkStorageEntry } from '../../validator/checkStorageFacts.ts';
import { accounts } from '../ledger/accounts.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { countServed } from './countServed.ts';
import { redeemReceipt } from './redeemReceipt.ts';
import { redeemServed } from './redeemServed.ts';
import { postRetrieval } from './storageLedger.ts';
import { storageDb } from './storageTables.ts';

const CHAIN = 31337;

test("a provider's model read is charged to the model's owner; forged and replayed receipts pay nothing; validators agree", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-model-read-pay-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const provider = privateKeyToAccount(generatePrivateKey());
    const reader = provider.address.toLowerCase();
    const ownerAccount = privateKeyToAccount(generatePrivateKey());
    const owner = ownerAccount.address.toLowerCase();
    const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    const cid = 'ef'.repeat(32);
    // The owner's signed put of the model: the entry's evidence that the payer owns it.
    const put = await signStorageRequest(ownerAccount, CHAIN, { action: 'put', objectId: `0x${cid}` });
    // The protocol's price per byte (a validator refuses any other: checkStorageFacts.ts).
    const pricePerByte = STORAGE_DEFAULTS.pricePerByte;
    // The relay served the provider 3,000 bytes of the model (what receipts are checked against).
    await countServed(db, 1, reader, server, cid, 3000);
    const signer = createReceiptSigner({ account: provider, chainId: async () => CHAIN });
    await signer.sign(server, cid, 1000);
    const first = await signer.sign(server, cid, 2000);
    const redeem = (receipt: typeof first) =>
      redeemReceipt({
        db,
        chainId: CHAIN,
        server,
        receipt,
        pricePerByte,
        now: () => 2,
        post: (trx, paid) =>
          postRetrieval(trx, { receipt, pricePerByte, epoch: 3, payer: owner, owner: put, ...paid }, 2),
      });
    const v = await redeem(first);
    assert.equal(v.ok, true);
    assert.equal(v.amount, 3000n * pricePerByte);
    const bal = async (a: string) => (await readBalances(store.db, { account: a })).get(a) ?? 0n;
    assert.equal(await bal(accounts.clientUnsettled(owner)), 3000n * pricePerByte, 'the owner pays');
    assert.equal(await bal(accounts.clientUnsettled(reader)), 0n, 'the reading provider does not');
    assert.equal(await bal(accounts.providerEarnings(server)), -3000n * pricePerByte);

    // Replayed (the same receipt again) and forged (the provider's fields, a stranger's signature).
    assert.deepEqual(await redeem(first), { ok: false, reason: 'replayed', amount: 0n });
    await countServed(db, 3, reader, server, cid, 500);
    const stranger = createReceiptSigner({
      account: privateKeyToAccount(generatePrivateKey()),
      chainId: async () => CHAIN,
    });
    const forged = { ...(await stranger.sign(server, cid, 3500)), reader: provider.address };
    assert.deepEqual(await redeem(forged), { ok: false, reason: 'forged', amount: 0n });
    assert.equal(await bal(accounts.clientUnsettled(owner)), 3000n * pricePerByte, 'nothing more charged');

    // A validator re-derives the entry; tampered versions are disputed.
    const e = await store.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('kind', '=', 'storage-retrieval')
      .executeTakeFirstOrThrow();
    const postings = await store.db
      .selectFrom('ledger_postings')
      .select(['account', 'amount'])
      .where('entry_id', '=', e.id)
      .execute();
    const fact: EntryFact = { ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) };
    assert.equal((fact.memo as { payer?: string }).payer, owner);
    assert.equal(await checkStorageEntry(fact, CHAIN, new Map()), null, 'a validator agrees');
    const memo = fact.memo as Record<string, unknown>;
    const noBasis: EntryFact = { ...fact, memo: { ...memo, readFor: undefined } };
    assert.match((await checkStorageEntry(noBasis, CHAIN, new Map()))!.fact, /payer/);
    const otherPayer = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    const moved: EntryFact = { ...fact, memo: { ...memo, payer: otherPayer } };
    assert.match(
      (await checkStorageEntry(moved, CHAIN, new Map()))!.fact,
      /owner/,
      "the put is not the payer's",
    );
    // Without the owner's signed put, or with another object's, the payer's ownership is unproven.
    const unproven: EntryFact = { ...fact, memo: { ...memo, owner: undefined } };
    assert.match((await checkStorageEntry(unproven, CHAIN, new Map()))!.fact, /owner/);
    const otherPut = await signStorageRequest(ownerAccount, CHAIN, {
      action: 'put',
      objectId: `0x${'aa'.repeat(32)}`,
    });
    const otherObject: EntryFact = { ...fact, memo: { ...memo, owner: otherPut } };
    assert.match((await checkStorageEntry(otherObject, CHAIN, new Map()))!.fact, /owner/);
    // A repair's source read is charged to the owner the same way.
    const repair: EntryFact = { ...fact, memo: { ...memo, readFor: 'repair' } };
    assert.equal(await checkStorageEntry(repair, CHAIN, new Map()), null, 'a repair read checks the same');
    const other: EntryFact = { ...fact, memo: { ...memo, readFor: 'curiosity' } };
    assert.match((await checkStorageEntry(other, CHAIN, new Map()))!.fact, /payer/);
    const onReader: EntryFact = {
      ...fact,
      postings: postings.map((p) =>
        p.account === accounts.clientUnsettled(owner)
          ? { ...p, account: accounts.clientUnsettled(reader) }
          : p,
      ),
    };
    assert.match((await checkStorageEntry(onReader, CHAIN, new Map()))!.fact, /postings/);
    const paid = new Map<string, bigint>();
    assert.equal(await checkStorageEntry(fact, CHAIN, paid), null);
    assert.match((await checkStorageEntry(fact, CHAIN, paid))!.fact, /fromBytes/, 'replayed in one bundle');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a read of an object with no signed put (stored before 0028) is never charged to its owner: refused 'unsigned'", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-model-read-unsigned-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const provider = privateKeyToAccount(generatePrivateKey());
    const owner = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    const cid = 'cd'.repeat(32);
    await db
      .insertInto('storage_objects')
      .values({
        object_id: cid,
        client: owner,
        object_bytes: 3000,
        data_pieces: 2,
        parity_pieces: 1,
        manifest: '{}',
        epochs: 1,
        price_per_gib_epoch: '1',
        escrow: '0',
        start_epoch: 0,
        status: 'stored',
        created_at: 0,
        updated_at: 0,
        put_request: null,
      })
      .execute();
    await countServed(db, 1, provider.address.toLowerCase(), server, cid, 3000);
    const signer = createReceiptSigner({ account: provider, chainId: async () => CHAIN });
    const receipt = await signer.sign(server, cid, 2000);
    const v = await redeemServed({ db, chainId: CHAIN, pricePerByte: 7n, epoch: 1 }, server, receipt);
    assert.deepEqual(v, { ok: false, reason: 'unsigned', amount: 0n }, 'not charged without the signed put');
    const entries = await store.db
      .selectFrom('ledger_entries')
      .select('id')
      .where('kind', '=', 'storage-retrieval')
      .execute();
    assert.equal(entries.length, 0, 'no ledger entry a validator would dispute');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
