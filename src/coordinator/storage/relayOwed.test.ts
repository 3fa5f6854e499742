/**
 * Pay as you go on the relay and no existence oracle (security review 2026-12-07, F4 and F6;
 * docs/storage.md "What a read moves and pays", docs/errors.md): against the real coordinator
 * side and store, with in-process holders (storageSecurityHarness.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { receiptToWire, signRetrievalReceipt } from '../../protocol/storageMessages.ts';
import { receiptFromHeader } from './relayOwed.ts';
import { addr, harness, receiptWire, SIG } from './storageSecurityHarness.ts';
import { storageDb } from './storageTables.ts';

test('the relay serves a reader at most one unpaid piece per holder before the next: then it waits for a receipt, which reaches the holder', async () => {
  const h = await harness(3, { t: Date.now() }, { serveAfterMs: 0 });
  try {
    const owner = addr();
    // Random bytes: no two pieces share a root (equal pieces would be served by each other's holders).
    const cid = await h.upload(owner, new Uint8Array(randomBytes(100_000)));
    await h.storage.put(h.req(owner, cid), SIG);
    const db = storageDb(h.store.db);
    await db.updateTable('storage_pieces').set({ status: 'healthy' }).where('object_id', '=', cid).execute();
    const pieces = await db
      .selectFrom('storage_pieces')
      .select(['root', 'piece_bytes', 'holder'])
      .where('object_id', '=', cid)
      .orderBy('idx')
      .execute();
    const [p0, p1] = [pieces[0]!, pieces[1]!];
    const unpaid = (bytes: number) => (err: { code?: string; details?: Record<string, unknown> }) =>
      err.code === 'PLX_STORAGE_RECEIPT_REQUIRED' &&
      err.details?.server === p0.holder &&
      err.details?.owedBytes === String(bytes);
    // The security review's loop: an owner reading its object again and again, never a receipt.
    let relayed = 0;
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const grant = await h.storage.grantRead(owner, cid);
      for (const p of [p0, p1])
        await h.storage.relayPiece(p.root, grant.token).then(
          (r) => (relayed += r.bytes.length),
          (err: { code?: string }) => {
            assert.equal(err.code, 'PLX_STORAGE_RECEIPT_REQUIRED', 'refused for want of a receipt');
            refused++;
          },
        );
    }
    assert.equal(
      relayed,
      2 * (p0.piece_bytes + p1.piece_bytes),
      'two pieces from each holder (one unpaid before the next), then nothing',
    );
    assert.equal(refused, 16, 'every later piece refused (before: 10 reads, 20 pieces relayed, 0 receipts)');
    const grant = await h.storage.grantRead(owner, cid);
    const shown = (over: Partial<ReturnType<typeof receiptWire>>) => ({
      ...receiptWire(owner, p0.holder!, cid, p0.piece_bytes),
      ...over,
    });
    // Receipts that do not pay this holder for its first piece change nothing.
    for (const [why, r, owes] of [
      ['another reader', shown({ reader: addr() }), 2 * p0.piece_bytes],
      ['another object', shown({ objectId: `0x${'ab'.repeat(32)}` }), 2 * p0.piece_bytes],
      ['another holder', shown({ server: p1.holder as `0x${string}` }), 2 * p0.piece_bytes],
      ['above what was served', shown({ cumulativeBytes: String(3 * p0.piece_bytes) }), 2 * p0.piece_bytes],
      ['one byte short', shown({ cumulativeBytes: String(p0.piece_bytes - 1) }), p0.piece_bytes + 1],
    ] as const)
      await assert.rejects(h.storage.relayPiece(p0.root, grant.token, undefined, r), unpaid(owes), why);
    // One covering the first piece opens the third, and goes to the holder to redeem (once).
    const next = await h.storage.relayPiece(p0.root, grant.token, undefined, shown({}));
    assert.equal(next.server, p0.holder, 'served by the holder it paid');
    const forwarded = () => (h.inbox.get(p0.holder!) ?? []).filter((m) => m.type === 'store.receipt');
    assert.equal(forwarded().length, 1, 'the receipt the relay took as paid was handed to its holder');
    await assert.rejects(
      h.storage.relayPiece(p0.root, grant.token, undefined, shown({})),
      unpaid(2 * p0.piece_bytes),
    );
    assert.equal(forwarded().length, 1, 'not handed over twice');
    const row = await db
      .selectFrom('storage_receipts')
      .select(['served_bytes'])
      .where('server', '=', p0.holder!)
      .executeTakeFirstOrThrow();
    assert.equal(
      Number(row.served_bytes),
      3 * p0.piece_bytes,
      'counted: the three pieces relayed, nothing refused',
    );
  } finally {
    await h.close();
  }
});

test('a stranger is told the same of a stored object and of an absent one (read, put, remove); its owner reads on', async () => {
  const h = await harness(3);
  try {
    const [owner, stranger] = [addr(), addr()];
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(9));
    await h.storage.put(h.req(owner, cid), SIG);
    const absent = 'ab'.repeat(32);
    const answer = (f: () => Promise<unknown>, id: string) =>
      f().then(
        () => 'ok',
        (e: { code: string; message: string }) => `${e.code}: ${e.message.replaceAll(id, 'ID')}`,
      );
    for (const [what, op] of [
      ['read', (id: string) => h.storage.grantRead(stranger, id)],
      ['put', (id: string) => h.storage.put(h.req(stranger, id), SIG)],
      ['remove', (id: string) => h.storage.remove(stranger, id)],
    ] as const) {
      const [stored, none] = [await answer(() => op(cid), cid), await answer(() => op(absent), absent)];
      assert.equal(stored, none, `a stranger's ${what}: the same answer whether the object exists or not`);
      assert.notEqual(stored, 'ok', `a stranger's ${what} is refused`);
    }
    assert.ok((await h.storage.grantRead(owner, cid)).token, 'the owner still reads it');
    await assert.rejects(
      h.storage.grantRead(owner, absent),
      { code: 'PLX_NOT_FOUND' },
      'the owner: not found',
    );
  } finally {
    await h.close();
  }
});

test("a relay request's receipt is taken only when its reader signed it", async () => {
  const reader = privateKeyToAccount(generatePrivateKey());
  const message = {
    reader: reader.address,
    server: addr(),
    objectId: `0x${'cd'.repeat(32)}` as const,
    cumulativeBytes: 4096n,
    issuedAt: 1n,
  };
  const wire = receiptToWire(message, await signRetrievalReceipt(reader, 31337, message));
  assert.deepEqual(await receiptFromHeader(JSON.stringify(wire), 31337), wire, 'signed by its reader: taken');
  for (const [why, header] of [
    ['inflated after signing', JSON.stringify({ ...wire, cumulativeBytes: '8192' })],
    ['another reader named', JSON.stringify({ ...wire, reader: addr() })],
    ['not JSON', '{'],
    ['absent', undefined],
  ] as const)
    assert.equal(await receiptFromHeader(header, 31337), undefined, why);
  assert.equal(await receiptFromHeader(JSON.stringify(wire), 1), undefined, 'another chain');
});
