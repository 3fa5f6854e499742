/**
 * A repair paid through the ledger (repairPaid.ts, storageLedger.ts `payRepair`), against a real
 * store and coordinator side with in-process provider sessions: a holder goes offline, the window
 * faults it and orders the spare provider to rebuild its piece, which fetches K sources through
 * the relay and keeps it; it is paid K × pieceBytes × pricePerByte from the object's hold, once,
 * and a validator re-derives the entry (checkStorageFacts.ts `checkRepairEntry`) from its evidence:
 * the fault that lost the piece and the client's signed put. The holders that served its K
 * sources redeem the repairer's receipts and are paid, charged to the owner (`readFor: repair`). A raised fee, another payee, a loss
 * that did not happen (a "wrong answer" that passes) or a put signed by someone else is disputed.
 * And a repair finished across a coordinator restart is paid from the order kept in the store,
 * once, whether the holder reconnects with the piece or its `store.stored` arrives late.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import { signStorageRequest, storageRequestFromWire } from '../../protocol/storageMessages.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { createErasureThread } from '../../storage/erasureThread.ts';
import { createReceiptSigner } from '../../storage/receiptSigner.ts';
import { repairFee } from '../../storage/storagePrice.ts';
import { checkStorageEntry } from '../../validator/checkStorageFacts.ts';
import { createBlobStore } from '../blobs/createBlobStore.ts';
import { accounts } from '../ledger/accounts.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import { redeemServed } from './redeemServed.ts';
import { storageDb } from './storageTables.ts';

const CHAIN = 31337;
/** One coding thread for the file (each coordinator side would start its own). */
const coder = createErasureThread();
after(() => coder.close());
const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
type Msg<T extends StorageCoordinatorMessage['type']> = Extract<StorageCoordinatorMessage, { type: T }>;

/** A coordinator side on a store, with in-process holders that serve what they keep. */
async function harness() {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-repair-pay-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const open = () =>
    createStorageNetwork({
      db: store.db,
      blobs,
      dataDir: dir,
      log: createLogger('test', { level: 'silent' }),
      seedOf: async () => ({ seed: `0x${'11'.repeat(32)}`, source: 'test' }),
      coder,
      // A long deadline: the window's challenges of healthy pieces are not answered here.
      // A holder away at the opening is faulted at once here (the grace is offlineGrace.test.ts's).
      config: { deadlineMs: 600_000, offlineGraceMs: 0 },
      money: {
        check: async () => {},
        admit: async (_c, _a, put) => put(),
        epochNow: async () => ({ epoch: 5, from: 0 }),
      },
    });
  let storage = open();
  const inbox = new Map<string, StorageCoordinatorMessage[]>();
  const bytesOf = new Map<string, Uint8Array>();
  const connect = (address: string, pieces: Hex[] = [], serve = true) => {
    inbox.set(address, []);
    const s = storage;
    return s.providerConnected({
      address,
      region: 'eu',
      offer: { offeredBytes: 1 << 30, freeBytes: 1 << 30, pieces },
      send: (m) => {
        inbox.get(address)!.push(m);
        // A holder asked to serve a piece posts it back to the relay (what the agent does).
        if (m.type === 'store.serve' && serve)
          setImmediate(() => s.relayUpload(m.orderId, m.token, bytesOf.get(m.pieceRoot)!));
        return true;
      },
    });
  };
  const holders = [addr(), addr(), addr()];
  for (const a of holders) await connect(a);
  const owner = privateKeyToAccount(generatePrivateKey());
  const client = owner.address.toLowerCase();
  const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 253);
  const { cid, size } = await blobs.put(Readable.from([Buffer.from(data)]), { maxBytes: 1 << 30 });
  await store.db
    .insertInto('blob_uploads')
    .values({ cid, account: client, size, created_at: Date.now() })
    .execute();
  const signed = await signStorageRequest(owner, CHAIN, {
    action: 'put',
    objectId: `0x${cid}`,
    dataPieces: 2,
    parityPieces: 1,
    epochs: 4,
  });
  const { message, signature } = storageRequestFromWire(signed);
  await storage.put(message, signature);
  for (const a of holders) {
    const m = inbox.get(a)!.find((x): x is Msg<'store.put'> => x.type === 'store.put')!;
    bytesOf.set(m.pieceRoot, await storage.stagedPiece(m.orderId, m.token));
    await storage.orderDone(a, m.orderId, true, undefined, m.pieceRoot);
  }
  const bal = async (account: string) => (await readBalances(store.db, { account })).get(account) ?? 0n;
  const held = -(await bal(accounts.storageTerm(cid)));
  assert.ok(held > 0n, 'the term is held');
  // The third holder goes offline; the next window faults it (offline) and orders the repair.
  storage.providerDisconnected(holders[2]!);
  const repairerAccount = privateKeyToAccount(generatePrivateKey());
  const repairer = repairerAccount.address.toLowerCase() as `0x${string}`;
  await connect(repairer);
  await storage.runWindow();
  const order = inbox.get(repairer)!.find((x): x is Msg<'store.repair'> => x.type === 'store.repair');
  assert.ok(order, 'the spare provider is ordered to rebuild the piece');
  const repairEntries = async () => {
    const entries = await store.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('kind', '=', 'storage-repair')
      .execute();
    return Promise.all(
      entries.map(async (e): Promise<EntryFact> => {
        const postings = await store.db
          .selectFrom('ledger_postings')
          .select(['account', 'amount'])
          .where('entry_id', '=', e.id)
          .execute();
        return { ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) };
      }),
    );
  };
  return {
    ...{ store, cid, client, held, order, repairer, repairerAccount, holders, bal, connect, repairEntries },
    inboxOf: (a: string) => inbox.get(a) ?? [],
    storage: () => storage,
    /** A coordinator restart: the order book and grants are gone, the store stays. */
    restart() {
      storage.stop();
      storage = open();
    },
    async close() {
      storage.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('the provider that rebuilds a lost piece is paid K × pieceBytes × pricePerByte from the hold, once; a validator re-derives it from its evidence', async () => {
  const h = await harness();
  try {
    const { order, repairer, client, cid, bal } = h;
    // It fetches K sources through its grant, then keeps the rebuilt piece, and receipts each
    // source to its server (what the agent does, createStorageAgent.ts).
    const signer = createReceiptSigner({ account: h.repairerAccount, chainId: async () => CHAIN });
    for (const s of order.sources) {
      const got = await h.storage().relayPiece(s.root, order.token);
      await signer.sign(got.server, cid, got.bytes.length);
    }
    await h.storage().orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);
    // A second "stored" for the same order pays nothing more.
    await h.storage().orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);

    const fee = repairFee(order.pieceBytes, 2, STORAGE_DEFAULTS.pricePerByte);
    assert.ok(fee > 0n, 'fee > 0n');
    assert.equal(await bal(accounts.providerEarnings(repairer)), -fee, 'the repairer is paid the fee');
    assert.equal(-(await bal(accounts.storageTerm(cid))), h.held - fee, 'from the hold');
    assert.equal(await bal(accounts.clientUnsettled(client)), fee, 'the client is charged it');

    // The sources' holders redeem the repairer's receipts: each paid its piece's bytes, charged to
    // the object's owner (readFor repair, its signed put in the entry); validators agree.
    const price = STORAGE_DEFAULTS.pricePerByte;
    const db = storageDb(h.store.db);
    const servers = signer.latest(cid);
    assert.equal(servers.length, 2, 'K sources, from two holders');
    for (const r of servers) {
      const v = await redeemServed({ db, chainId: CHAIN, pricePerByte: price, epoch: 5 }, r.server, r);
      assert.equal(v.ok, true, 'a source read pays');
      assert.equal(await bal(accounts.providerEarnings(r.server)), -BigInt(order.pieceBytes) * price);
      const again = await redeemServed({ db, chainId: CHAIN, pricePerByte: price, epoch: 5 }, r.server, r);
      assert.deepEqual([again.ok, again.amount], [false, 0n], 'once');
    }
    const sourcesPaid = 2n * BigInt(order.pieceBytes) * price;
    assert.equal(
      await bal(accounts.clientUnsettled(client)),
      fee + sourcesPaid,
      'the owner pays the sources',
    );
    assert.equal(await bal(accounts.clientUnsettled(repairer)), 0n, 'the repairer pays nothing');
    // From the term's hold (which reserves a repair round), not on top of it.
    assert.equal(
      -(await bal(accounts.storageTerm(cid))),
      h.held - fee - sourcesPaid,
      "the source reads came out of the object's hold",
    );
    const reads = await h.store.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('kind', '=', 'storage-retrieval')
      .execute();
    assert.equal(reads.length, 2, 'one entry per source server');
    const readsChecked = new Map<string, bigint>();
    for (const e of reads) {
      const memo = JSON.parse(e.memo) as { readFor?: string; payer?: string };
      assert.deepEqual(
        [memo.readFor, memo.payer, (memo as { fromHold?: boolean }).fromHold],
        ['repair', client, true],
        "a repair read, paid by the owner from the object's hold",
      );
      const postings = await h.store.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .execute();
      const f: EntryFact = { ref: e.ref, kind: e.kind, postings, memo };
      assert.equal(await checkStorageEntry(f, CHAIN, new Map()), null, 'a validator agrees');
      // The same entry as a job's model read paid from the hold: disputed (only repairs are).
      const asModel: EntryFact = { ...f, memo: { ...memo, readFor: 'job-model' } };
      assert.match((await checkStorageEntry(asModel, CHAIN, new Map()))?.fact ?? 'none', /fromHold/);
      // Without the hold's postings (charged on top of the hold): disputed.
      const term = accounts.storageTerm(cid);
      const noHold: EntryFact = { ...f, postings: postings.filter((p) => p.account !== term) };
      assert.match((await checkStorageEntry(noHold, CHAIN, new Map()))?.fact ?? 'none', /postings/);
      assert.equal(await checkStorageEntry(f, CHAIN, readsChecked), null, 'a validator agrees');
    }
    const piece = await storageDb(h.store.db)
      .selectFrom('storage_pieces')
      .selectAll()
      .where('root', '=', order.pieceRoot)
      .executeTakeFirstOrThrow();
    assert.equal(piece.status, 'healthy');
    assert.equal(piece.holder, repairer);

    const entries = await h.repairEntries();
    assert.equal(entries.length, 1, 'one repair entry');
    const fact = entries[0]!;
    const memo = fact.memo as Record<string, unknown>;
    assert.equal((memo.lost as { reason: string }).reason, 'offline', 'the loss it repairs is in the entry');
    assert.equal((memo.lost as { provider: string }).provider, h.holders[2], 'with the holder that lost it');
    assert.equal(
      (memo.owner as { client: string }).client.toLowerCase(),
      client,
      "and the client's signed put",
    );
    assert.equal(await checkStorageEntry(fact, CHAIN, new Map()), null, 'a validator re-derives it');
    const dispute = async (f: EntryFact) => (await checkStorageEntry(f, CHAIN, new Map()))?.fact ?? 'none';
    const raised: EntryFact = {
      ...fact,
      postings: fact.postings.map((p) =>
        p.account === accounts.providerEarnings(repairer)
          ? { ...p, amount: (BigInt(p.amount) - 1n).toString() }
          : p.account === accounts.clientUnsettled(client)
            ? { ...p, amount: (BigInt(p.amount) + 1n).toString() }
            : p,
      ),
    };
    assert.match(await dispute(raised), /postings/);
    const withMemo = (m: Record<string, unknown>): EntryFact => ({ ...fact, memo: { ...memo, ...m } });
    assert.match(await dispute(withMemo({ repairer: addr() })), /postings/);
    assert.match(await dispute(withMemo({ dataPieces: 3 })), /postings/);
    // The loss must hold: no fault, a fault of another piece, the repairer's own, or a "wrong
    // answer" with no answer that fails the challenge is disputed.
    const lost = memo.lost as Record<string, unknown>;
    assert.match(await dispute(withMemo({ lost: undefined })), /\.lost/);
    assert.match(await dispute(withMemo({ lost: { ...lost, index: lost.index === 0 ? 1 : 0 } })), /\.lost/);
    assert.match(await dispute(withMemo({ lost: { ...lost, provider: repairer } })), /lost\.provider/);
    assert.match(await dispute(withMemo({ lost: { ...lost, reason: 'bad-proof' } })), /lost\.storage/);
    // Who owns the object: the put must be the client's, signed by it, of this object.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const forged = await signStorageRequest(stranger, CHAIN, { action: 'put', objectId: `0x${cid}` });
    assert.match(await dispute(withMemo({ owner: undefined })), /\.owner/);
    assert.match(await dispute(withMemo({ owner: forged })), /\.owner/);
    assert.match(await dispute(withMemo({ owner: { ...forged, client } })), /\.owner/);
  } finally {
    await h.close();
  }
});

test('a repair finished across a coordinator restart is paid from the stored order, once', async () => {
  const h = await harness();
  try {
    const { order, repairer, bal } = h;
    const fee = repairFee(order.pieceBytes, 2, STORAGE_DEFAULTS.pricePerByte);
    for (const s of order.sources) await h.storage().relayPiece(s.root, order.token);
    // The coordinator restarts before the holder's `store.stored` arrives: the order book is gone.
    h.restart();
    assert.equal(h.storage().orderCount(), 0, 'no order in memory after the restart');
    // The holder reconnects saying it keeps the piece: paid from the stored order, piece healthy.
    await h.connect(repairer, [order.pieceRoot]);
    assert.equal(
      await bal(accounts.providerEarnings(repairer)),
      -fee,
      'the repair is paid after the restart',
    );
    // Its late `store.stored`, a reconnect, and another restart pay nothing more.
    await h.storage().orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);
    h.restart();
    await h.connect(repairer, [order.pieceRoot]);
    await h.storage().orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);
    assert.equal(await bal(accounts.providerEarnings(repairer)), -fee, 'paid once');
    assert.equal((await h.repairEntries()).length, 1, 'one repair entry');
    const piece = await storageDb(h.store.db)
      .selectFrom('storage_pieces')
      .selectAll()
      .where('root', '=', order.pieceRoot)
      .executeTakeFirstOrThrow();
    assert.deepEqual([piece.status, piece.holder], ['healthy', repairer], 'the repaired piece is healthy');
  } finally {
    await h.close();
  }
});

test('after a restart, a "stored" for a repair that fetched no sources is neither paid nor kept', async () => {
  const h = await harness();
  try {
    const { order, repairer, bal } = h;
    h.restart();
    await h.storage().orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);
    await h.connect(repairer, [order.pieceRoot]);
    assert.equal(await bal(accounts.providerEarnings(repairer)), 0n, 'nothing paid');
    assert.equal((await h.repairEntries()).length, 0, 'no repair entry');
    assert.ok(
      h.storage().sessions().length > 0 &&
        [...(await storageDb(h.store.db).selectFrom('storage_pieces').select('status').execute())].some(
          (p) => p.status === 'lost',
        ),
      'the piece is lost again (to be ordered anew)',
    );
  } finally {
    await h.close();
  }
});

test('a reader that goes away while its piece is relayed is not counted served it; a repair fetches each source once', async () => {
  const h = await harness();
  try {
    const { order, repairer } = h;
    const db = storageDb(h.store.db);
    const heldBy = async (root: string) =>
      (
        await db
          .selectFrom('storage_pieces')
          .select('holder')
          .where('root', '=', root)
          .executeTakeFirstOrThrow()
      ).holder;
    // One source's holder is slow (it never posts the piece); the reader gives up on it.
    const slow = order.sources[0]!;
    const slowHolder = (await heldBy(slow.root))!;
    await h.connect(slowHolder as `0x${string}`, [], false);
    const gone = new AbortController();
    const relayed = h.storage().relayPiece(slow.root, order.token, gone.signal);
    await waitFor(() => h.inboxOf(slowHolder).some((m) => m.type === 'store.serve'));
    gone.abort();
    await assert.rejects(relayed, { code: 'PLX_STORAGE_UNAVAILABLE' });
    const counted = () =>
      db.selectFrom('storage_receipts').selectAll().where('reader', '=', repairer).execute();
    assert.deepEqual(await counted(), [], 'nothing counted for the piece the reader did not take');
    // A piece the reader takes is counted: exactly its bytes.
    const other = order.sources.find((x) => x.root !== slow.root)!;
    await h.storage().relayPiece(other.root, order.token);
    // A repair fetches each source once (its reads are charged to the owner).
    await assert.rejects(h.storage().relayPiece(other.root, order.token), {
      code: 'PLX_STORAGE_TOKEN_INVALID',
    });
    assert.deepEqual(
      (await counted()).map((r) => r.served_bytes),
      [String(order.pieceBytes)],
      'the piece taken is counted',
    );
  } finally {
    await h.close();
  }
});

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok(), 'the awaited condition holds');
}

test('a crash right after the order: a window before the repairer is back keeps the stored order; its reconnect without the piece orders the repair anew, paid once', async () => {
  const h = await harness();
  try {
    const { order, repairer, bal } = h;
    h.restart();
    for (const a of h.holders.slice(0, 2)) await h.connect(a);
    await h.storage().runWindow();
    const status = async () =>
      (
        await storageDb(h.store.db)
          .selectFrom('storage_pieces')
          .select('status')
          .where('root', '=', order.pieceRoot)
          .executeTakeFirstOrThrow()
      ).status;
    assert.equal(await status(), 'repairing', 'its order is live in the store: not given up yet');
    await h.connect(repairer);
    assert.equal(await status(), 'lost', 'back without the piece: lost again');
    await h.storage().runWindow();
    const again = h.inboxOf(repairer).find((x): x is Msg<'store.repair'> => x.type === 'store.repair');
    assert.ok(again, 'ordered anew');
    assert.notEqual(again.orderId, order.orderId, 'a new order');
    for (const s of again.sources) await h.storage().relayPiece(s.root, again.token);
    await h.storage().orderDone(repairer, again.orderId, true, undefined, again.pieceRoot);
    assert.equal(await status(), 'healthy');
    const fee = repairFee(again.pieceBytes, 2, STORAGE_DEFAULTS.pricePerByte);
    assert.equal(await bal(accounts.providerEarnings(repairer)), -fee, 'paid once, for the new order');
  } finally {
    await h.close();
  }
});
