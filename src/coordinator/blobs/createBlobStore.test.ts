/**
 * Tiny blobs kept in their row (`putBytes`, migration 0033): read back whole, into a buffer, as a
 * stream and through a path like a file-backed blob (SQLite; between two PostgreSQL replicas:
 * test/replicaBlobs.test.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PlexusError } from '../../errors/PlexusError.ts';
import { openStore } from '../store/openStore.ts';
import { createBlobStore, INLINE_BLOB_BYTES } from './createBlobStore.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a tiny blob put from memory lives in its row: read, read into, streamed, given a path, collected', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-blobs-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db, raw: store.raw });
    const bytes = Buffer.from('a tiny output, kept in the store');
    const cid = sha(bytes);

    await assert.rejects(
      blobs.putBytes(Buffer.from('other bytes'), cid),
      (e: unknown) => e instanceof PlexusError && e.code === 'PLX_DIGEST_MISMATCH',
    );
    assert.equal(await blobs.size(cid), undefined, 'bytes that do not hash to the cid store nothing');

    assert.deepEqual(await blobs.putBytes(bytes, cid), { cid, size: bytes.length });
    assert.equal(existsSync(blobs.pathOf(cid)), false, 'no file is written for it');
    const row = await store.db
      .selectFrom('blobs')
      .select(['size', 'data'])
      .where('cid', '=', cid)
      .executeTakeFirst();
    assert.ok(row?.data && Buffer.from(row.data).equals(bytes), 'the row holds the bytes');

    // A fresh store over the same database (no sizes remembered) reads it back every way.
    const again = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db, raw: store.raw });
    assert.equal(await again.size(cid), bytes.length);
    assert.ok(Buffer.from(await again.read(cid)).equals(bytes), 'read whole');
    const into = new Uint8Array(bytes.length);
    await again.readInto(cid, into);
    assert.ok(Buffer.from(into).equals(bytes), 'read into a buffer');
    const { stream } = await again.openRead(cid);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    assert.ok(Buffer.concat(parts).equals(bytes), 'streamed');
    const path = await again.localPath(cid, bytes.length);
    assert.ok(readFileSync(path).equals(bytes), 'a caller that needs a path gets a file with the bytes');

    // Stored again (another execution's identical output): still one row, still the bytes.
    await again.putBytes(bytes, cid);
    const rows = await store.db.selectFrom('blobs').select('cid').where('cid', '=', cid).execute();
    assert.equal(rows.length, 1);

    // Bigger than INLINE_BLOB_BYTES: a file, as before.
    const big = Buffer.alloc(INLINE_BLOB_BYTES + 1, 7);
    await again.putBytes(big, sha(big));
    assert.ok(existsSync(again.pathOf(sha(big))), 'a blob over the inline size is a file');
    assert.ok(Buffer.from(await again.read(sha(big))).equals(big), 'and reads back');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bytes checked, then put in a transaction, are stored with it or not at all', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-blobs-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db, raw: store.raw });
    const bytes = Buffer.from('an output inside a result');
    const cid = sha(bytes);
    assert.throws(
      () => blobs.checkBytes(Buffer.from('not these'), cid),
      (e: unknown) => e instanceof PlexusError && e.code === 'PLX_DIGEST_MISMATCH',
    );
    const checked = blobs.checkBytes(bytes, cid);
    await assert.rejects(
      store.db.transaction().execute(async (trx) => {
        await blobs.putChecked(checked, trx);
        throw new Error('the result is refused');
      }),
      /refused/,
    );
    assert.equal(
      await blobs.size(cid),
      undefined,
      'rolled back with its transaction, and no size remembered',
    );
    await store.db.transaction().execute((trx) => blobs.putChecked(checked, trx));
    assert.equal(await blobs.size(cid), bytes.length, 'committed with its transaction');
    assert.ok(Buffer.from(await blobs.read(cid)).equals(bytes), 'read back');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
