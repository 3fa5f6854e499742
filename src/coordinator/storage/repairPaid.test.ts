/**
 * A repair paid through the ledger (repairPaid.ts, storageLedger.ts `payRepair`), against a real
 * store and coordinator side with in-process provider sessions: a piece is lost, the spare
 * provider ordered to rebuild it fetches K sources through the relay and keeps it; it is paid
 * K × pieceBytes × pricePerByte from the object's hold, once, and a validator re-derives the entry
 * (checkStorageFacts.ts `checkRepairEntry`); a raised fee or another payee is disputed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { repairFee } from '../../storage/storagePrice.ts';
import { checkStorageEntry } from '../../validator/checkStorageFacts.ts';
import { createBlobStore } from '../blobs/createBlobStore.ts';
import { accounts } from '../ledger/accounts.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import { storageDb } from './storageTables.ts';

const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
type Msg<T extends StorageCoordinatorMessage['type']> = Extract<StorageCoordinatorMessage, { type: T }>;

test('the provider that rebuilds a lost piece is paid K × pieceBytes × pricePerByte from the hold, once; a validator re-derives it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-repair-pay-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const storage = createStorageNetwork({
    db: store.db,
    blobs,
    dataDir: dir,
    log: createLogger('test', { level: 'silent' }),
    seedOf: async () => ({ seed: `0x${'11'.repeat(32)}`, source: 'test' }),
    // A long deadline: the window's challenges of healthy pieces are not answered here.
    config: { deadlineMs: 600_000 },
    money: {
      check: async () => {},
      admit: async (_c, _a, put) => put(),
      epochNow: async () => ({ epoch: 5, from: 0 }),
    },
  });
  const inbox = new Map<string, StorageCoordinatorMessage[]>();
  const bytesOf = new Map<string, Uint8Array>();
  const connect = (address: string) => {
    inbox.set(address, []);
    return storage.providerConnected({
      address,
      region: 'eu',
      offer: { offeredBytes: 1 << 30, freeBytes: 1 << 30, pieces: [] },
      send: (m) => {
        inbox.get(address)!.push(m);
        // A holder asked to serve a piece posts it back to the relay (what the agent does).
        if (m.type === 'store.serve')
          setImmediate(() => storage.relayUpload(m.orderId, m.token, bytesOf.get(m.pieceRoot)!));
        return true;
      },
    });
  };
  try {
    const holders = [addr(), addr(), addr()];
    for (const a of holders) await connect(a);
    const client = addr();
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 253);
    const { cid, size } = await blobs.put(Readable.from([Buffer.from(data)]), { maxBytes: 1 << 30 });
    await store.db
      .insertInto('blob_uploads')
      .values({ cid, account: client, size, created_at: Date.now() })
      .execute();
    await storage.put({
      client,
      action: 'put',
      objectId: `0x${cid}`,
      dataPieces: 2,
      parityPieces: 1,
      epochs: 4,
      maxPricePerGiBEpoch: 0n,
      issuedAt: BigInt(Date.now()),
    });
    for (const a of holders) {
      const m = inbox.get(a)!.find((x): x is Msg<'store.put'> => x.type === 'store.put')!;
      bytesOf.set(m.pieceRoot, await storage.stagedPiece(m.orderId, m.token));
      await storage.orderDone(a, m.orderId, true, undefined, m.pieceRoot);
    }
    const db = storageDb(store.db);
    const term = accounts.storageTerm(cid);
    const bal = async (account: string) => (await readBalances(store.db, { account })).get(account) ?? 0n;
    const held = -(await bal(term));
    assert.ok(held > 0n, 'the term is held');

    // The third holder's piece is lost (a failed challenge); a spare provider joins.
    const lost = holders[2]!;
    await db
      .updateTable('storage_pieces')
      .set({ status: 'lost', holder: null })
      .where('holder', '=', lost)
      .execute();
    storage.providerDisconnected(lost);
    const repairer = addr();
    await connect(repairer);
    await storage.runWindow();
    const order = inbox.get(repairer)!.find((x): x is Msg<'store.repair'> => x.type === 'store.repair');
    assert.ok(order, 'the spare provider is ordered to rebuild the piece');
    // It fetches K sources through its grant, then keeps the rebuilt piece.
    for (const s of order.sources) await storage.relayPiece(s.root, order.token);
    await storage.orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);
    // A second "stored" for the same order pays nothing more.
    await storage.orderDone(repairer, order.orderId, true, undefined, order.pieceRoot);

    const fee = repairFee(order.pieceBytes, 2, STORAGE_DEFAULTS.pricePerByte);
    assert.ok(fee > 0n, 'fee > 0n');
    assert.equal(await bal(accounts.providerEarnings(repairer)), -fee, 'the repairer is paid the fee');
    assert.equal(-(await bal(term)), held - fee, 'from the hold');
    assert.equal(await bal(accounts.clientUnsettled(client)), fee, 'the client is charged it');
    const piece = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('root', '=', order.pieceRoot)
      .executeTakeFirstOrThrow();
    assert.equal(piece.status, 'healthy');
    assert.equal(piece.holder, repairer);

    const entries = await store.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('kind', '=', 'storage-repair')
      .execute();
    assert.equal(entries.length, 1, 'one repair entry');
    const e = entries[0]!;
    assert.equal(e.epoch, 5);
    const postings = await store.db
      .selectFrom('ledger_postings')
      .select(['account', 'amount'])
      .where('entry_id', '=', e.id)
      .execute();
    const fact: EntryFact = { ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) };
    assert.equal(await checkStorageEntry(fact, 31337, new Map()), null, 'a validator re-derives it');
    const raised: EntryFact = {
      ...fact,
      postings: postings.map((p) =>
        p.account === accounts.providerEarnings(repairer)
          ? { ...p, amount: (BigInt(p.amount) - 1n).toString() }
          : p.account === accounts.clientUnsettled(client)
            ? { ...p, amount: (BigInt(p.amount) + 1n).toString() }
            : p,
      ),
    };
    assert.match((await checkStorageEntry(raised, 31337, new Map()))!.fact, /postings/);
    const other = addr();
    const rerouted: EntryFact = {
      ...fact,
      memo: { ...(fact.memo as object), repairer: other },
    };
    assert.match((await checkStorageEntry(rerouted, 31337, new Map()))!.fact, /postings/);
    const inflated: EntryFact = {
      ...fact,
      memo: { ...(fact.memo as object), dataPieces: 3 },
    };
    assert.match((await checkStorageEntry(inflated, 31337, new Map()))!.fact, /postings/);
  } finally {
    storage.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
