/**
 * Unauthenticated receipts posted to `POST /v1/storage/receipts` (forwardReceipts.ts), against a
 * real store: junk naming a server is not forwarded (it would get the server disconnected for
 * redeeming it); an honest receipt is, once per key, the highest; a few per server at most.
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
import { openStore } from '../store/openStore.ts';
import { receiptsToForward } from './forwardReceipts.ts';
import { storageDb } from './storageTables.ts';

test('only receipts that would be paid are forwarded: junk, forged, replayed, inflated dropped; one per key; capped per server', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-forward-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const reader = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
    const objects = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32));
    for (const o of objects)
      await db
        .insertInto('storage_receipts')
        .values({
          reader: reader.address.toLowerCase(),
          server,
          object_id: o,
          served_bytes: '3000',
          redeemed_bytes: o === objects[1] ? '2000' : '0',
          updated_at: 0,
        })
        .execute();
    const sign = async (objectId: string, cumulativeBytes: bigint, by = reader) => {
      const m: RetrievalReceiptMessage = {
        reader: reader.address,
        server,
        objectId: `0x${objectId}`,
        cumulativeBytes,
        issuedAt: 1n,
      };
      return receiptToWire(m, await signRetrievalReceipt(by, 31337, m));
    };
    const fwd = (receipts: Awaited<ReturnType<typeof sign>>[]) =>
      receiptsToForward({ db, chainId: 31337, receipts });
    const o = objects[0]!;
    // 1,024 junk receipts naming the server: unsigned counts for objects it never served, forged ones.
    const junk = await sign(o, 1000n, stranger);
    const unknown = await sign('ee'.repeat(32), 100n);
    const flood = Array.from({ length: 1024 }, (_, i) =>
      i % 2 ? { ...junk, cumulativeBytes: String(i + 1) } : { ...unknown, cumulativeBytes: String(i + 1) },
    );
    assert.equal((await fwd(flood)).length, 0);
    assert.equal((await fwd([await sign(o, 5000n)])).length, 0, 'inflated');
    assert.equal((await fwd([await sign(objects[1]!, 1500n)])).length, 0, 'replayed');
    // One honest receipt repeated, with lower ones: forwarded once, the highest.
    const honest = await Promise.all([sign(o, 1000n), sign(o, 3000n), sign(o, 2000n)]);
    const once = await fwd([...honest, ...honest, ...honest]);
    assert.deepEqual(
      once.map((r) => r.cumulativeBytes),
      ['3000'],
    );
    // Honest receipts for 20 objects of one server: at most 16 forwarded.
    const many = await Promise.all(objects.filter((x) => x !== objects[1]).map((x) => sign(x, 100n)));
    assert.equal((await fwd(many)).length, 16);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
