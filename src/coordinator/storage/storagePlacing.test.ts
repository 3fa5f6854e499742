/**
 * Stalled uploads and orders (placingSweep.ts, docs/storage.md "Stalled uploads"), against a real
 * store, blob store and coordinator side with in-process provider sessions and a clock the test
 * moves: a re-sent order ends the one before (no entry left per reconnect), a piece whose holder
 * never comes back is placed elsewhere, a put nobody can finish fails by its deadline with its
 * pieces dropped and the blob kept, and a piece kept for an order that ended is dropped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { createBlobStore } from '../blobs/createBlobStore.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import type { StorageMoney } from './storageNetworkTypes.ts';
import { storageDb } from './storageTables.ts';

const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
type Put = Extract<StorageCoordinatorMessage, { type: 'store.put' }>;

async function harness(providers: number, freeBytes = 1 << 30, money?: StorageMoney) {
  const clock = { t: Date.now() };
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-placing-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const storage = createStorageNetwork({
    db: store.db,
    blobs,
    dataDir: dir,
    log: createLogger('test', { level: 'silent' }),
    seedOf: async () => ({ seed: `0x${'11'.repeat(32)}`, source: 'test' }),
    now: () => clock.t,
    ...(money ? { money } : {}),
  });
  const inbox = new Map<string, StorageCoordinatorMessage[]>();
  const connect = async (address: string, pieces: `0x${string}`[] = []) => {
    inbox.set(address, []);
    await storage.providerConnected({
      address,
      region: 'eu',
      offer: { offeredBytes: 1 << 30, freeBytes, pieces },
      send: (m) => inbox.get(address)!.push(m) > 0,
    });
  };
  const holders = Array.from({ length: providers }, addr);
  for (const a of holders) await connect(a);
  const client = addr();
  const bytes = new Uint8Array(50_000).map((_, i) => (i * 31) % 251);
  const { cid, size } = await blobs.put(Readable.from([Buffer.from(bytes)]), { maxBytes: 1 << 30 });
  await store.db
    .insertInto('blob_uploads')
    .values({ cid, account: client, size, created_at: clock.t })
    .execute();
  const put = () =>
    storage.put({
      client,
      action: 'put',
      objectId: `0x${cid}`,
      dataPieces: 2,
      parityPieces: 1,
      epochs: 1,
      maxPricePerGiBEpoch: 0n,
      issuedAt: BigInt(clock.t),
    });
  const puts = (a: string) => inbox.get(a)!.filter((m): m is Put => m.type === 'store.put');
  /** The holder fetches its ordered piece and says it stored it (what the agent does). */
  const keep = async (a: string, m: Put) => {
    await storage.stagedPiece(m.orderId, m.token);
    await storage.orderDone(a, m.orderId, true, undefined, m.pieceRoot);
  };
  const sdb = storageDb(store.db);
  const object = () =>
    sdb.selectFrom('storage_objects').selectAll().where('object_id', '=', cid).executeTakeFirstOrThrow();
  const pieces = () =>
    sdb.selectFrom('storage_pieces').selectAll().where('object_id', '=', cid).orderBy('idx').execute();
  return {
    storage,
    client,
    clock,
    inbox,
    holders,
    connect,
    put,
    puts,
    keep,
    object,
    pieces,
    blobs,
    cid,
    staging: join(dir, 'storage-staging', cid),
    async close() {
      storage.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a holder reconnecting again and again holds one order per piece (the old one ends with its grant)', async () => {
  const h = await harness(3);
  try {
    await h.put();
    assert.equal(h.storage.orderCount(), 3);
    const grants = h.storage.grantCount();
    for (let i = 0; i < 40; i++) await h.connect(h.holders[0]!);
    assert.equal(h.storage.orderCount(), 3, 'one open order per pending piece');
    assert.equal(h.storage.grantCount(), grants);
    // The latest order still works; an ended one is ignored.
    const [first, ...rest] = h.puts(h.holders[0]!);
    assert.equal(rest.length, 0, 'inbox was reset by the last connect: one order re-sent');
    await assert.rejects(h.storage.stagedPiece('0'.repeat(32), first!.token), {
      code: 'PLX_STORAGE_TOKEN_INVALID',
    });
    for (const a of h.holders) await h.keep(a, h.puts(a)[0]!);
    assert.equal((await h.object()).status, 'stored');
    assert.equal(h.storage.orderCount(), 0);
  } finally {
    await h.close();
  }
});

test('a piece whose holder never comes back is placed on another provider after placeTimeoutMs', async () => {
  const h = await harness(4);
  try {
    await h.put();
    const ordered = h.holders.filter((a) => h.puts(a).length === 1);
    const spare = h.holders.find((a) => !ordered.includes(a))!;
    const [gone, ...stay] = ordered;
    h.storage.providerDisconnected(gone!);
    for (const a of stay) await h.keep(a, h.puts(a)[0]!);
    assert.equal((await h.object()).status, 'placing');
    h.clock.t += STORAGE_DEFAULTS.placeTimeoutMs - 1000;
    assert.equal((await h.storage.sweep()).replaced, 0, 'not before the timeout');
    h.clock.t += 2000;
    assert.equal((await h.storage.sweep()).replaced, 1);
    const moved = h.puts(spare);
    assert.equal(moved.length, 1, 'the spare provider was ordered the piece');
    await h.keep(spare, moved[0]!);
    assert.equal((await h.object()).status, 'stored');
    assert.deepEqual(
      new Set((await h.pieces()).map((p) => p.holder)),
      new Set([...stay, spare]),
      'three distinct holders, not the one that left',
    );
    assert.equal(existsSync(h.staging), false, 'staging deleted once placed');
    // The holder that left comes back with the piece it had fetched meanwhile: told to drop it.
    await h.connect(gone!, [moved[0]!.pieceRoot]);
    assert.deepEqual(
      h.inbox.get(gone!)!.map((m) => m.type),
      ['store.drop'],
    );
  } finally {
    await h.close();
  }
});

test('a put nobody can finish fails at placeDeadlineMs: pieces dropped, staging deleted, the blob kept, put again works', async () => {
  const h = await harness(3);
  try {
    await h.put();
    const [gone, ...stay] = h.holders;
    h.storage.providerDisconnected(gone!);
    for (const a of stay) await h.keep(a, h.puts(a)[0]!);
    for (let t = 0; t < STORAGE_DEFAULTS.placeDeadlineMs; t += STORAGE_DEFAULTS.placeTimeoutMs) {
      h.clock.t += STORAGE_DEFAULTS.placeTimeoutMs;
      await h.storage.sweep();
      if ((await h.object()).status !== 'placing') break;
    }
    assert.equal((await h.object()).status, 'failed');
    assert.ok(
      (await h.pieces()).every((p) => p.status === 'dropped'),
      "(await h.pieces()).every((p) => p.status === 'dropped')",
    );
    for (const a of stay)
      assert.ok(
        h.inbox.get(a)!.some((m) => m.type === 'store.drop'),
        'holder told to drop',
      );
    assert.equal(existsSync(h.staging), false);
    assert.equal(h.storage.orderCount(), 0);
    assert.equal(await h.blobs.size(h.cid), 50_000, 'the client still has its blob on the coordinator');
    await assert.rejects(h.storage.grantRead(await h.object().then((o) => o.client), h.cid), {
      code: 'PLX_NOT_FOUND',
    });
    await h.connect(gone!);
    assert.equal((await h.put()).status, 'placing', 'a new put of the same blob starts over');
  } finally {
    await h.close();
  }
});

test('a put failing by its deadline while its owner removes it stays removed (failed never overwrites removed)', async () => {
  // Both ends read the epoch before their transaction: held here until both are waiting, so the
  // owner's removal and the sweep's failure race on the same placing row.
  let armed = false;
  let waiting = 0;
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const money: StorageMoney = {
    check: async () => {},
    admit: async (_c, _a, store) => store(),
    epochNow: async () => {
      if (armed) {
        if (++waiting === 2) open();
        await gate;
      }
      return { epoch: 1, from: 0 };
    },
  };
  const h = await harness(3, 1 << 30, money);
  try {
    await h.put();
    h.clock.t += STORAGE_DEFAULTS.placeDeadlineMs;
    armed = true;
    const removal = h.storage.remove(h.client, h.cid);
    const sweep = h.storage.sweep();
    const [removed, swept] = await Promise.all([removal, sweep]);
    assert.ok(removed.refund > 0n, 'the owner gets the unused term back');
    assert.equal(swept.failed, 1, 'the sweep tried to fail it');
    assert.equal((await h.object()).status, 'removed', 'the removal came first and stays');
    for (const a of h.holders) {
      const drops = h.inbox.get(a)!.filter((m) => m.type === 'store.drop');
      assert.equal(drops.length, 1, 'each holder told to drop its piece once');
    }
  } finally {
    await h.close();
  }
});

test('a lapsed order ends: its piece goes elsewhere, and a late "stored" for it gets a drop', async () => {
  const h = await harness(4);
  try {
    await h.put();
    const ordered = h.holders.filter((a) => h.puts(a).length === 1);
    const slow = ordered[0]!;
    const order = h.puts(slow)[0]!;
    for (const a of ordered.slice(1)) await h.keep(a, h.puts(a)[0]!);
    h.clock.t += STORAGE_DEFAULTS.orderTtlMs + 1;
    const swept = await h.storage.sweep();
    assert.equal(swept.lapsed, 1);
    assert.equal(swept.replaced, 1);
    h.inbox.set(slow, []);
    await h.storage.orderDone(slow, order.orderId, true, undefined, order.pieceRoot);
    assert.deepEqual(
      h.inbox.get(slow)!.map((m) => m.type),
      ['store.drop'],
    );
    assert.equal(h.storage.orderCount(), 1);
  } finally {
    await h.close();
  }
});

test('a put is priced by the market: the floor while space is plentiful, more when it is scarce', async () => {
  const plenty = await harness(3);
  const scarce = await harness(3, 1 << 28); // 75 % of every offer already in use
  try {
    await plenty.put();
    await scarce.put();
    const floor = STORAGE_DEFAULTS.pricePerGiBEpoch;
    assert.equal(BigInt((await plenty.object()).price_per_gib_epoch), floor);
    assert.equal(BigInt((await scarce.object()).price_per_gib_epoch), (floor * 225n) / 100n);
  } finally {
    await plenty.close();
    await scarce.close();
  }
});
