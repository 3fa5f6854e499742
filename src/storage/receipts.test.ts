/**
 * Retrieval receipts: honest cumulative receipts pay exactly the increase; forged, replayed,
 * inflated and for-another-server receipts are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, keccak256 } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type RetrievalReceiptMessage,
  receiptFromWire,
  receiptToWire,
  retrievalReceiptSchema,
  signRetrievalReceipt,
} from '../protocol/storageMessages.ts';
import { ReceiptBook, type SignedReceipt, verifyReceipt } from './receipts.ts';

const CHAIN = 31337;
const reader = privateKeyToAccount(generatePrivateKey());
const mallory = privateKeyToAccount(generatePrivateKey());
const server = privateKeyToAccount(generatePrivateKey()).address;
const otherServer = privateKeyToAccount(generatePrivateKey()).address;
const objectId: Hex = keccak256('0x0102');

async function receipt(cumulativeBytes: bigint, over: Partial<RetrievalReceiptMessage> = {}, by = reader) {
  const message: RetrievalReceiptMessage = {
    reader: reader.address,
    server,
    objectId,
    cumulativeBytes,
    issuedAt: 1_800_000_000n,
    ...over,
  };
  return { message, signature: await signRetrievalReceipt(by, CHAIN, message) } satisfies SignedReceipt;
}

test('honest cumulative receipts pay each increase once, to the byte', async () => {
  const book = new ReceiptBook(CHAIN);
  assert.deepEqual(await book.redeem(await receipt(1_000n), server, 1_000n), {
    ok: true,
    payableBytes: 1_000n,
  });
  assert.deepEqual(await book.redeem(await receipt(5_500n), server, 6_000n), {
    ok: true,
    payableBytes: 4_500n,
  });
  // A lost receipt costs nothing: the next cumulative one covers it.
  assert.deepEqual(await book.redeem(await receipt(9_000n), server, 9_000n), {
    ok: true,
    payableBytes: 3_500n,
  });
  assert.equal(book.lastAccepted({ reader: reader.address, server, objectId }), 9_000n);
  // Counts are per (reader, server, object): another object starts from zero.
  const other = await receipt(700n, { objectId: keccak256('0x03') });
  assert.deepEqual(await book.redeem(other, server, 700n), { ok: true, payableBytes: 700n });
});

test('a replayed receipt (equal or lower cumulative count) is refused', async () => {
  const book = new ReceiptBook(CHAIN);
  const r = await receipt(2_000n);
  assert.equal((await book.redeem(r, server, 2_000n)).ok, true);
  assert.deepEqual(await book.redeem(r, server, 2_000n), { ok: false, reason: 'replayed' });
  assert.deepEqual(await book.redeem(await receipt(1_999n), server, 3_000n), {
    ok: false,
    reason: 'replayed',
  });
  assert.deepEqual(await book.redeem(await receipt(0n), server, 3_000n), { ok: false, reason: 'replayed' });
  // Two redemptions of the same receipt at once: one pays.
  const r2 = await receipt(2_500n);
  const both = await Promise.all([book.redeem(r2, server, 3_000n), book.redeem(r2, server, 3_000n)]);
  assert.deepEqual(
    both.map((v) => v.ok),
    [true, false],
  );
});

test('a forged receipt is refused: wrong signer, altered fields, garbage signature, other chain', async () => {
  const base = { server, servedBytes: 10_000n, lastAccepted: 0n, chainId: CHAIN };
  const byMallory = await receipt(5_000n, {}, mallory);
  assert.deepEqual(await verifyReceipt({ ...base, receipt: byMallory }), { ok: false, reason: 'forged' });
  const honest = await receipt(1_000n);
  const altered = { ...honest, message: { ...honest.message, cumulativeBytes: 9_000n } };
  assert.deepEqual(await verifyReceipt({ ...base, receipt: altered }), { ok: false, reason: 'forged' });
  const garbage = { ...honest, signature: `0x${'11'.repeat(65)}` as Hex };
  assert.deepEqual(await verifyReceipt({ ...base, receipt: garbage }), { ok: false, reason: 'forged' });
  assert.deepEqual(await verifyReceipt({ ...base, receipt: { ...honest, signature: '0x12' } }), {
    ok: false,
    reason: 'forged',
  });
  assert.deepEqual(await verifyReceipt({ ...base, chainId: 1, receipt: honest }), {
    ok: false,
    reason: 'forged',
  });
  assert.deepEqual(await verifyReceipt({ ...base, receipt: honest }), { ok: true, payableBytes: 1_000n });
});

test("an inflated receipt (more than the server's own served count) is refused", async () => {
  const r = await receipt(10_001n);
  assert.deepEqual(
    await verifyReceipt({ chainId: CHAIN, receipt: r, server, servedBytes: 10_000n, lastAccepted: 0n }),
    {
      ok: false,
      reason: 'inflated',
    },
  );
  assert.equal(
    (await verifyReceipt({ chainId: CHAIN, receipt: r, server, servedBytes: 10_001n, lastAccepted: 0n })).ok,
    true,
  );
});

test('a receipt for another server is refused, whoever redeems it', async () => {
  const r = await receipt(4_000n, { server: otherServer });
  const book = new ReceiptBook(CHAIN);
  assert.deepEqual(await book.redeem(r, server, 4_000n), { ok: false, reason: 'wrong-server' });
  assert.equal((await book.redeem(r, otherServer, 4_000n)).ok, true);
  // Case of the address does not matter.
  const lower = await receipt(1_000n, { server: server.toLowerCase() as Hex });
  assert.equal((await new ReceiptBook(CHAIN).redeem(lower, server, 1_000n)).ok, true);
});

test('receipts survive their wire form; malformed wire receipts fail the schema', async () => {
  const r = await receipt(123_456_789_012_345_678_901n);
  const wire = JSON.parse(JSON.stringify(receiptToWire(r.message, r.signature)));
  const back = receiptFromWire(retrievalReceiptSchema.parse(wire));
  assert.deepEqual(back, r);
  assert.equal(
    (await verifyReceipt({ chainId: CHAIN, receipt: back, server, servedBytes: 2n ** 70n, lastAccepted: 0n }))
      .ok,
    true,
  );
  assert.equal(retrievalReceiptSchema.safeParse({ ...wire, cumulativeBytes: '-1' }).success, false);
  assert.equal(retrievalReceiptSchema.safeParse({ ...wire, cumulativeBytes: 12 }).success, false);
  assert.equal(retrievalReceiptSchema.safeParse({ ...wire, extra: 1 }).success, false);
});
