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
