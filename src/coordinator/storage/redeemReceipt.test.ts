/** Receipt redemption against a real store: honest receipts pay to the byte; the rest are refused. */
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
import { countServed, voidUnredeemed } from './countServed.ts';
import { redeemReceipt } from './redeemReceipt.ts';
import { storageDb } from './storageTables.ts';

test('honest receipts pay the increase once; forged, replayed, inflated and other servers’ are refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-receipts-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const reader = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
    const other = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    const objectId = `0x${'ab'.repeat(32)}` as const;
    // What the relay counted: 3,000 bytes served by `server` to `reader` of this object.
    await db
      .insertInto('storage_receipts')
      .values({
        reader: reader.address.toLowerCase(),
        server,
        object_id: 'ab'.repeat(32),
        served_bytes: '3000',
        redeemed_bytes: '0',
        updated_at: 0,
      })
      .execute();
    const sign = async (cumulativeBytes: bigint, by = reader) => {
      const m: RetrievalReceiptMessage = {
        reader: reader.address,
        server,
        objectId,
        cumulativeBytes,
        issuedAt: 1n,
      };
      return receiptToWire(m, await signRetrievalReceipt(by, 31337, m));
    };
    const redeem = async (receipt: Awaited<ReturnType<typeof sign>>, as = server) => {
      const v = await redeemReceipt({
        db,
        chainId: 31337,
        server: as,
        receipt,
        pricePerByte: 7n,
        now: Date.now,
      });
      return v.ok ? { ...v, reason: undefined } : v;
    };

    assert.deepEqual(await redeem(await sign(1000n)), {
      ok: true,
      payableBytes: 1000n,
      amount: 7000n,
      reason: undefined,
    });
    assert.equal((await redeem(await sign(1000n))).reason, 'replayed');
    assert.equal((await redeem(await sign(500n))).reason, 'replayed');
    assert.equal((await redeem(await sign(5000n))).reason, 'inflated');
    assert.equal((await redeem(await sign(2000n, stranger))).reason, 'forged');
    assert.equal((await redeem(await sign(2000n), other as `0x${string}`)).reason, 'wrong-server');
    const altered = await sign(2000n);
    assert.equal((await redeem({ ...altered, cumulativeBytes: '2500' })).reason, 'forged');
    // Two redemptions of the same receipt at once: paid once.
    const last = await sign(3000n);
    const both = await Promise.all([redeem(last), redeem(last)]);
    assert.deepEqual(both.map((v) => v.ok).sort(), [false, true]);
    assert.equal(both.find((v) => v.ok)?.amount, 2000n * 7n);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('reads of an object that ended are void: its content stored again by someone else pays none of them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-receipts-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const reader = privateKeyToAccount(generatePrivateKey());
    const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
    const objectId = `0x${'cd'.repeat(32)}` as const;
    const sign = async (cumulativeBytes: bigint) => {
      const m: RetrievalReceiptMessage = {
        reader: reader.address,
        server,
        objectId,
        cumulativeBytes,
        issuedAt: 1n,
      };
      return receiptToWire(m, await signRetrievalReceipt(reader, 31337, m));
    };
    const redeem = async (cumulativeBytes: bigint) =>
      redeemReceipt({
        db,
        chainId: 31337,
        server,
        receipt: await sign(cumulativeBytes),
        pricePerByte: 7n,
        now: Date.now,
      });
    const me = reader.address.toLowerCase();
    // 4,000 bytes read; 1,000 redeemed; then the object is removed (or put anew by another owner).
    await countServed(db, 1, me, server, 'cd'.repeat(32), 4000);
    assert.equal((await redeem(1000n)).ok, true, 'the first 1,000 bytes pay');
    await voidUnredeemed(db, 'cd'.repeat(32), 2);
    const held = await redeem(4000n);
    assert.equal(held.ok ? 'paid' : held.reason, 'inflated', 'a receipt kept from before pays nothing now');
    // New reads count on from what was redeemed: receipts stay cumulative.
    await countServed(db, 3, me, server, 'cd'.repeat(32), 500);
    const later = await redeem(1500n);
    assert.equal(later.ok && later.payableBytes, 500n, 'only the new 500 bytes pay');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
