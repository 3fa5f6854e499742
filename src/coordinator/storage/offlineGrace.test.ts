/**
 * A holder offline when a challenge window opens (challengePieces.ts `awaitHolder`), against a real
 * store and coordinator side with in-process provider sessions: one back within
 * `offlineGraceMs` gets the window's challenge then and is not faulted for being away (a
 * coordinator restart or a dropped link must not cost an honest holder its stake); one that left
 * at the opening and cannot answer is faulted `late` all the same (leaving buys no time); one still
 * away when the grace ends is faulted `offline` and its piece repaired.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import { signStorageRequest, storageRequestFromWire } from '../../protocol/storageMessages.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { createErasureThread } from '../../storage/erasureThread.ts';
import { createBlobStore } from '../blobs/createBlobStore.ts';
import { openStore } from '../store/openStore.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import { storageDb } from './storageTables.ts';

const coder = createErasureThread();
after(() => coder.close());
const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
const GRACE_MS = 3_000;
const DEADLINE_MS = 1_500;

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An object (K=2 M=1) stored on 3 holders, and a spare provider connected. */
async function harness(deadlineMs = DEADLINE_MS) {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-grace-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const storage = createStorageNetwork({
    db: store.db,
    blobs,
    dataDir: dir,
    log: createLogger('test', { level: 'silent' }),
    seedOf: async () => ({ seed: `0x${'22'.repeat(32)}`, source: 'test' }),
    coder,
    config: { deadlineMs, offlineGraceMs: GRACE_MS },
    money: {
      check: async () => {},
      admit: async (_c, _a, put) => put(),
      epochNow: async () => ({ epoch: 5, from: 0 }),
    },
  });
  const inbox = new Map<string, StorageCoordinatorMessage[]>();
  const connect = (address: string, pieces: `0x${string}`[] = []) => {
    inbox.set(address, []);
    return storage.providerConnected({
      address,
      region: 'eu',
      offer: { offeredBytes: 1 << 30, freeBytes: 1 << 30, pieces },
      send: (m) => {
        inbox.get(address)!.push(m);
        return true;
      },
    });
  };
  const holders = [addr(), addr(), addr()];
  for (const a of holders) await connect(a);
  const owner = privateKeyToAccount(generatePrivateKey());
  const data = new Uint8Array(200_000).map((_, i) => (i * 5) % 251);
  const { cid, size } = await blobs.put(Readable.from([Buffer.from(data)]), { maxBytes: 1 << 30 });
  const client = owner.address.toLowerCase();
  await store.db
    .insertInto('blob_uploads')
    .values({ cid, account: client, size, created_at: Date.now() })
    .execute();
  const signed = await signStorageRequest(owner, 31337, {
    ...{ action: 'put', objectId: `0x${cid}`, dataPieces: 2, parityPieces: 1, epochs: 4 },
  });
  const { message, signature } = storageRequestFromWire(signed);
  await storage.put(message, signature);
  const roots = new Map<string, `0x${string}`>();
  for (const a of holders) {
    const m = inbox.get(a)!.find((x) => x.type === 'store.put') as Extract<
      StorageCoordinatorMessage,
      { type: 'store.put' }
    >;
    await storage.stagedPiece(m.orderId, m.token);
    await storage.orderDone(a, m.orderId, true, undefined, m.pieceRoot);
    roots.set(a, m.pieceRoot);
  }
  const faults = async () =>
    storageDb(store.db).selectFrom('storage_faults').select(['provider', 'reason']).execute();
  const challenges = (a: string) => (inbox.get(a) ?? []).filter((m) => m.type === 'store.challenge');
  return {
    storage,
    holders,
    roots,
    connect,
    faults,
    challenges,
    inboxOf: (a: string) => inbox.get(a) ?? [],
    async close() {
      storage.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a holder back within the grace is challenged then, not faulted for being away; one that cannot answer is faulted late', async () => {
  const h = await harness();
  try {
    const away = h.holders[2]!;
    h.storage.providerDisconnected(away);
    await h.storage.runWindow();
    assert.equal(h.challenges(h.holders[0]!).length, 1, 'the holders online are challenged at the opening');
    assert.deepEqual(await h.faults(), [], 'nobody faulted at the opening');
    // Back (a restart, a dropped link): the window's challenge follows it, with the window's deadline.
    await h.connect(away, [h.roots.get(away)!]);
    await until(
      'the challenge to reach the holder that came back',
      async () => h.challenges(away).length === 1,
    );
    const c = h.challenges(away)[0] as Extract<StorageCoordinatorMessage, { type: 'store.challenge' }>;
    assert.equal(c.pieceRoot, h.roots.get(away), 'its own piece');
    assert.equal(c.deadlineMs, DEADLINE_MS, 'no longer to answer than anyone else');
    // Nobody answers here: the two at the opening and the one that came back are faulted late, not offline.
    await until('three late faults', async () => (await h.faults()).length === 3);
    const f = await h.faults();
    assert.ok(
      f.every((x) => x.reason === 'late'),
      `leaving at the opening buys no time: ${JSON.stringify(f)}`,
    );
  } finally {
    await h.close();
  }
});

test('a holder still away when the grace ends is faulted offline, and its piece is repaired', async () => {
  // The holders online are not answered for here: a long deadline keeps them out of it.
  const h = await harness(600_000);
  try {
    const away = h.holders[2]!;
    h.storage.providerDisconnected(away);
    const spare = addr();
    await h.connect(spare);
    const opened = Date.now();
    await h.storage.runWindow();
    await until('the offline fault', async () => (await h.faults()).some((f) => f.provider === away));
    assert.ok(Date.now() - opened >= GRACE_MS - 100, 'not before the grace ended');
    assert.deepEqual(
      (await h.faults()).find((f) => f.provider === away)?.reason,
      'offline',
      'faulted offline',
    );
    assert.deepEqual(
      h.inboxOf(spare).flatMap((m) => (m.type === 'store.repair' ? [m.pieceRoot] : [])),
      [h.roots.get(away)],
      'the spare provider is ordered to rebuild that piece',
    );
    assert.equal((await h.faults()).length, 1, 'nobody else faulted');
    assert.equal(h.challenges(away).length, 0, 'never challenged: it never came back');
  } finally {
    await h.close();
  }
});
