import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { openStore } from '../store/openStore.ts';
import { createBlobCollector } from './collectBlobs.ts';
import { BLOB_USE_HOLD_MS, createBlobStore } from './createBlobStore.ts';

test('the collector deletes old unreferenced blobs (row, upload records, file, cached size), and a re-upload restarts the grace period', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-gc-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    let clock = Date.now();
    const blobs = await createBlobStore({
      dir: join(dir, 'blobs'),
      db: store.db,
      raw: store.raw,
      now: () => clock,
    });
    const put = (text: string) => blobs.put(Readable.from([Buffer.from(text)]), { maxBytes: 1024 });
    const old = await put('old and unreferenced');
    const again = await put('old, but uploaded again');
    await store.db
      .insertInto('blob_uploads')
      .values({ cid: old.cid, account: '0xabc', size: old.size, created_at: 0 })
      .execute();
    // Both look a day old; then one is uploaded again.
    await store.db
      .updateTable('blobs')
      .set({ created_at: Date.now() - 86_400_000 })
      .execute();
    assert.equal(await blobs.size(old.cid), old.size, 'the size is cached before collection');
    await put('old, but uploaded again');
    const gc = createBlobCollector({ sqlite: store.sqlite, blobs, graceMs: 3_600_000 });
    assert.equal(gc.collect(), 0, 'a blob just looked up is in use (job intake reads what it sizes)');
    clock += BLOB_USE_HOLD_MS + 1;
    assert.equal(gc.collect(), 1);
    assert.equal(await blobs.size(old.cid), undefined, 'the cached size is forgotten');
    assert.equal(existsSync(blobs.pathOf(old.cid)), false);
    assert.equal(
      (await store.db.selectFrom('blob_uploads').selectAll().where('cid', '=', old.cid).execute()).length,
      0,
    );
    assert.equal(await blobs.size(again.cid), again.size);
    assert.ok(existsSync(blobs.pathOf(again.cid)), 'existsSync(blobs.pathOf(again.cid))');
    assert.equal(gc.collect(), 0, 'nothing else is old enough');
    // A blob can be stored again after it was collected.
    assert.deepEqual(await put('old and unreferenced'), old);
    assert.equal(Buffer.from(await blobs.read(old.cid)).toString(), 'old and unreferenced');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
