/**
 * Attacks on the storage network (docs/storage.md, "Limits and abuse"), against a real store, a
 * real blob store and the real coordinator side, with in-process provider sessions: a `put` of
 * someone else's blob, an erasure shape that would block the coordinator, unbounded grants, and
 * a holder saying `store.stored` without fetching its piece.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countServed } from './countServed.ts';
import { addr, type Harness, harness, receiptWire, SIG } from './storageSecurityHarness.ts';
import { storageDb } from './storageTables.ts';

/** A lease `provider` holds on a task of `owner`'s job whose model is the stored object `cid`. */
async function leaseModelTo(h: Harness, owner: string, provider: string, cid: string): Promise<void> {
  await h.store.db
    .insertInto('jobs')
    .values({
      id: '0xj1',
      client: owner,
      nonce: '1',
      kind: 'onnx.infer',
      spec: JSON.stringify({ model: cid }),
      status: 'running',
      tasks_total: 1,
      deadline_ms: 0,
      issued_at: 0,
      signature: '0x',
      error_code: null,
      error_message: null,
      created_at: 0,
      updated_at: 0,
    })
    .execute();
  await h.store.db
    .insertInto('tasks')
    .values({
      id: '0xt1',
      job_id: '0xj1',
      idx: 0,
      input_cid: cid,
      status: 'assigned',
      attempts: 0,
      output_cid: null,
      provider: null,
      result: null,
      last_error: null,
      queued_at: 0,
      updated_at: 0,
    })
    .execute();
  await h.store.db
    .insertInto('assignments')
    .values({
      id: '0xa1',
      task_id: '0xt1',
      job_id: '0xj1',
      provider,
      status: 'leased',
      lease_expires_at: Date.now() + 60_000,
      created_at: 0,
      finished_at: null,
      error_code: null,
      error_message: null,
    })
    .execute();
}

test('a put of a blob the signer did not upload is refused (PLX_BLOB_FORBIDDEN); the uploader may store it', async () => {
  const h = await harness();
  try {
    const victim = addr();
    const attacker = addr();
    const cid = await h.upload(victim, new Uint8Array(10_000).fill(7));
    await assert.rejects(h.storage.put(h.req(attacker, cid)), { code: 'PLX_BLOB_FORBIDDEN' });
    for (const box of h.inbox.values()) assert.equal(box.length, 0, 'no holder was ordered anything');
    await assert.rejects(h.storage.grantRead(attacker, cid), { code: 'PLX_NOT_FOUND' });
    assert.equal((await h.storage.put(h.req(victim, cid))).status, 'placing');
  } finally {
    await h.close();
  }
});

test('erasure shapes beyond K + M <= 32 or M > K are refused before any coding', async () => {
  const h = await harness();
  try {
    const client = addr();
    const cid = await h.upload(client, new Uint8Array(10_000).fill(3));
    for (const [k, m] of [
      [1, 255],
      [1, 2],
      [20, 20],
      [0, 20],
    ] as const)
      await assert.rejects(h.storage.put(h.req(client, cid, k, m)), { code: 'PLX_STORAGE_SHAPE_INVALID' });
    for (const box of h.inbox.values()) assert.equal(box.length, 0);
  } finally {
    await h.close();
  }
});

test('read grants are capped per reader and expired grants swept (an owner looping reads keeps memory bounded)', async () => {
  const clock = { t: Date.now() };
  const h = await harness(4, clock);
  try {
    const owner = addr();
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(5));
    await h.storage.put(h.req(owner, cid));
    const orders = h.storage.grantCount(); // one put grant per piece
    assert.equal(orders, 3);
    const tokens: string[] = [];
    for (let i = 0; i < 200; i++) tokens.push((await h.storage.grantRead(owner, cid)).token);
    assert.equal(h.storage.grantCount(), orders + 8, 'at most 8 live read grants per reader');
    await assert.rejects(h.storage.relayPiece('ab'.repeat(32), tokens[0]), {
      code: 'PLX_STORAGE_TOKEN_INVALID',
    });
    // Every grant expired: the next one made sweeps them.
    clock.t += 11 * 60_000;
    await h.storage.grantRead(owner, cid);
    assert.equal(h.storage.grantCount(), 1);
  } finally {
    await h.close();
  }
});

test('store.stored counts only from a holder that downloaded its staged piece; a bare claim is a failed order', async () => {
  const h = await harness(4);
  try {
    const owner = addr();
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(9));
    await h.storage.put(h.req(owner, cid));
    const ordered = h.holders.filter((a) => h.inbox.get(a)!.length > 0);
    assert.equal(ordered.length, 3);
    const spare = h.holders.find((a) => !ordered.includes(a))!;
    const orderOf = (a: string) => {
      const m = h.inbox.get(a)!.find((x) => x.type === 'store.put');
      assert.ok(m && m.type === 'store.put', "m && m.type === 'store.put'");
      return m;
    };
    const pieces = () =>
      storageDb(h.store.db)
        .selectFrom('storage_pieces')
        .select(['holder', 'status'])
        .where('object_id', '=', cid)
        .orderBy('idx')
        .execute();
    const [liar, ...honest] = ordered as [string, ...string[]];
    // The liar says stored without fetching: its piece is not healthy, and goes to the spare provider.
    await h.storage.orderDone(liar, orderOf(liar).orderId, true);
    assert.ok(
      !(await pieces()).some((p) => p.holder === liar && p.status === 'healthy'),
      "!(await pieces()).some((p) => p.holder === liar && p.status === 'healthy')",
    );
    assert.equal(h.inbox.get(spare)!.length, 1, 'the piece was ordered from another holder');
    // Honest holders fetch, then say stored: healthy; their order's grant is gone after.
    for (const a of [...honest, spare]) {
      const m = orderOf(a);
      assert.ok(
        (await h.storage.stagedPiece(m.orderId, m.token)).length > 0,
        '(await h.storage.stagedPiece(m.orderId, m.token)).length > 0',
      );
      await h.storage.orderDone(a, m.orderId, true);
      await assert.rejects(h.storage.stagedPiece(m.orderId, m.token), { code: 'PLX_STORAGE_TOKEN_INVALID' });
    }
    assert.deepEqual(
      (await pieces()).map((p) => p.status),
      ['healthy', 'healthy', 'healthy'],
    );
    assert.ok(
      !(await pieces()).some((p) => p.holder === liar),
      '!(await pieces()).some((p) => p.holder === liar)',
    );
  } finally {
    await h.close();
  }
});

test("a provider on the owner's job is relayed at most two whole coded copies of the model (the owner pays for them); the owner reads on", async () => {
  const h = await harness(4);
  try {
    const owner = addr();
    const provider = addr();
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(7));
    await h.storage.put(h.req(owner, cid), SIG);
    await storageDb(h.store.db)
      .updateTable('storage_pieces')
      .set({ status: 'healthy' })
      .where('object_id', '=', cid)
      .execute();
    await leaseModelTo(h, owner, provider, cid);
    const grant = await h.storage.grantRead(provider, cid);
    const pieces = await storageDb(h.store.db)
      .selectFrom('storage_pieces')
      .select(['root', 'piece_bytes'])
      .where('object_id', '=', cid)
      .execute();
    const coded = pieces.reduce((a, p) => a + p.piece_bytes, 0);
    // The relay's count: two whole coded copies served to the provider already (by one holder).
    await countServed(storageDb(h.store.db), 1, provider, h.holders[0]!, cid, 2 * coded);
    await assert.rejects(h.storage.relayPiece(pieces[0]!.root, grant.token), {
      code: 'PLX_STORAGE_READ_LIMIT',
    });
    // Nor a ticket to fetch it from a holder directly (directTickets.ts).
    await assert.rejects(h.storage.issueTicket(pieces[0]!.root, grant.token), {
      code: 'PLX_STORAGE_READ_LIMIT',
    });
    await assert.rejects(h.storage.grantRead(provider, cid), { code: 'PLX_STORAGE_READ_LIMIT' });
    // Its owner is not limited: reading its own object is its own business.
    await countServed(storageDb(h.store.db), 2, owner, h.holders[0]!, cid, 10 * coded);
    assert.ok((await h.storage.grantRead(owner, cid)).token, 'the owner still gets a grant');
  } finally {
    await h.close();
  }
});

test('many relays at once on one grant cannot pass the read limit together (each piece is counted before it is relayed)', async () => {
  const h = await harness(4, { t: Date.now() }, { serveAfterMs: 100 });
  try {
    const owner = addr();
    const provider = addr();
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(7));
    await h.storage.put(h.req(owner, cid), SIG);
    const db = storageDb(h.store.db);
    await db.updateTable('storage_pieces').set({ status: 'healthy' }).where('object_id', '=', cid).execute();
    await leaseModelTo(h, owner, provider, cid);
    const grant = await h.storage.grantRead(provider, cid);
    const pieces = await db
      .selectFrom('storage_pieces')
      .select(['root', 'piece_bytes'])
      .where('object_id', '=', cid)
      .execute();
    const coded = pieces.reduce((a, p) => a + p.piece_bytes, 0);
    // Room for one more piece under the limit, everything before it paid (the relay serves a
    // reader one unpaid piece per holder at a time, relayOwed.ts: the limit is what is tested).
    const before = 2 * coded - pieces[0]!.piece_bytes;
    const holder = (
      await db
        .selectFrom('storage_pieces')
        .select('holder')
        .where('root', '=', pieces[0]!.root)
        .executeTakeFirstOrThrow()
    ).holder!;
    await countServed(db, 1, provider, holder, cid, before);
    await db
      .updateTable('storage_receipts')
      .set({ redeemed_bytes: String(before) })
      .execute();
    // 20 requests for one piece at once, while its holder takes 100 ms to answer each.
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => h.storage.relayPiece(pieces[0]!.root, grant.token)),
    );
    const served = (
      await db.selectFrom('storage_receipts').selectAll().where('object_id', '=', cid).execute()
    ).reduce((a, r) => a + Number(r.served_bytes), 0);
    const delivered = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(delivered, 1, 'one piece fitted under the limit');
    assert.equal(
      served,
      before + delivered * pieces[0]!.piece_bytes,
      'every delivered piece counted, nothing else',
    );
    assert.ok(served <= 2 * coded, `served ${served} bytes against a limit of ${2 * coded}`);
    assert.ok(
      results.some(
        (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'PLX_STORAGE_READ_LIMIT',
      ),
      'the requests past the limit were refused',
    );
  } finally {
    await h.close();
  }
});

/**
 * Stores two objects of 8 KiB that share their first half, one per owner, all pieces healthy:
 * with K = 2 their first data pieces are equal, and so are those pieces' roots.
 */
async function twoObjectsSharingAPiece(h: Harness, ownerA: string, ownerB: string) {
  const shared = new Uint8Array(4096).map((_v, i) => (i * 7) & 255);
  const object = (fill: number) => {
    const bytes = new Uint8Array(8192);
    bytes.set(shared, 0);
    return bytes.fill(fill, 4096);
  };
  const cidA = await h.upload(ownerA, object(9));
  await h.storage.put(h.req(ownerA as `0x${string}`, cidA));
  const cidB = await h.upload(ownerB, object(1));
  await h.storage.put(h.req(ownerB as `0x${string}`, cidB));
  const db = storageDb(h.store.db);
  await db.updateTable('storage_pieces').set({ status: 'healthy' }).execute();
  return { cidA, cidB, db };
}

test("a piece root two objects share is relayed and counted only as the granted object's (another owner is never charged)", async () => {
  const h = await harness(6, { t: Date.now() }, { serveAfterMs: 0 });
  try {
    const [victim, attacker] = [addr(), addr()];
    const { cidA, cidB, db } = await twoObjectsSharingAPiece(h, attacker, victim);
    const piecesOf = (cid: string) =>
      db.selectFrom('storage_pieces').select(['root']).where('object_id', '=', cid).execute();
    const rootsB = new Set((await piecesOf(cidB)).map((p) => p.root));
    const common = (await piecesOf(cidA)).find((p) => rootsB.has(p.root));
    assert.ok(common, 'the two objects share a piece root (the case under test)');
    // The attacker reads the shared piece as A's owner (no read limit), ten times.
    const grant = await h.storage.grantRead(attacker, cidA);
    let paid: { server: string; bytes: number } | undefined;
    for (let i = 0; i < 10; i++) {
      // Each read after the first shows a receipt for the last (the relay asks, relayOwed.ts).
      const shown = paid && receiptWire(attacker, paid.server, cidA, paid.bytes);
      const r = await h.storage.relayPiece(common.root, grant.token, undefined, shown);
      assert.equal(r.objectId, cidA, "relayed as the granted object's piece");
      paid = { server: r.server, bytes: (paid?.bytes ?? 0) + r.bytes.length };
    }
    const counted = await db
      .selectFrom('storage_receipts')
      .selectAll()
      .where('reader', '=', attacker)
      .execute();
    assert.deepEqual(
      [...new Set(counted.map((r) => r.object_id))],
      [cidA],
      "nothing counted against the victim's object",
    );
  } finally {
    await h.close();
  }
});

test('removing an object does not tell a holder to drop a piece another object still keeps on it under the same root', async () => {
  const h = await harness(3);
  try {
    const [owner, other] = [addr(), addr()];
    const { cidA, cidB, db } = await twoObjectsSharingAPiece(h, owner, other);
    const pieceOf = (cid: string) =>
      db
        .selectFrom('storage_pieces')
        .select(['root', 'holder'])
        .where('object_id', '=', cid)
        .where('idx', '=', 0)
        .executeTakeFirstOrThrow();
    const [pa, pb] = [await pieceOf(cidA), await pieceOf(cidB)];
    assert.equal(pa.root, pb.root, 'the first data pieces share a root (the case under test)');
    // Both on one holder: its one file serves both objects.
    await db
      .updateTable('storage_pieces')
      .set({ holder: pa.holder })
      .where('object_id', '=', cidB)
      .where('idx', '=', 0)
      .execute();
    const drops = () =>
      (h.inbox.get(pa.holder!) ?? [])
        .filter((m) => m.type === 'store.drop')
        .map((m) => (m as { pieceRoot: string }).pieceRoot);
    await h.storage.remove(owner, cidA);
    assert.ok(
      !drops().includes(pa.root),
      "the shared piece is kept: B's holder would fail B's challenges without it",
    );
    await h.storage.remove(other, cidB);
    assert.ok(drops().includes(pa.root), 'dropped once no object keeps it there');
  } finally {
    await h.close();
  }
});

test('an object stored before signed puts is read-only until its owner re-signs: no other reader, no repair; then both', async () => {
  const h = await harness(4);
  try {
    const owner = addr();
    const provider = addr();
    const cid = await h.upload(owner, new Uint8Array(10_000).fill(9));
    await h.storage.put(h.req(owner, cid)); // no signature kept: as stored before migration 0028
    const db = storageDb(h.store.db);
    await db.updateTable('storage_pieces').set({ status: 'healthy' }).where('object_id', '=', cid).execute();
    await leaseModelTo(h, owner, provider, cid);
    await assert.rejects(h.storage.grantRead(provider, cid), { code: 'PLX_STORAGE_UNSIGNED' });
    assert.ok((await h.storage.grantRead(owner, cid)).token, 'its owner reads it');
    assert.equal((await h.storage.status(cid)).signedPut, false, 'its status says it has no signed put');
    // A piece lost to the repair threshold: no repair is ordered (it would be charged to the owner).
    await db
      .updateTable('storage_pieces')
      .set({ status: 'lost', holder: null })
      .where('object_id', '=', cid)
      .where('idx', '=', 0)
      .execute();
    const repairs = () => [...h.inbox.values()].flat().filter((m) => m.type === 'store.repair').length;
    await h.storage.runWindow();
    assert.equal(repairs(), 0, 'no repair ordered without the signed put');
    // Another shape is not the same put: nothing kept.
    assert.equal((await h.storage.put(h.req(owner, cid, 3, 1), SIG)).resigned, undefined, 'K/M differ');
    // The owner puts it again, signed: kept as its evidence; reads and repairs go on.
    assert.equal((await h.storage.put(h.req(owner, cid), SIG)).resigned, true, 're-signed');
    assert.equal((await h.storage.status(cid)).signedPut, true, 'signed now');
    assert.ok((await h.storage.grantRead(provider, cid)).token, "the job's provider reads it");
    await h.storage.runWindow();
    assert.equal(repairs(), 1, 'the lost piece is repaired at the next window');
    assert.equal(
      (await h.storage.put(h.req(owner, cid), SIG)).resigned,
      undefined,
      'a signed object is not re-signed again',
    );
  } finally {
    await h.close();
  }
});
