import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from './openStore.ts';
import { queryTemplate, templateRunner } from './queryTemplate.ts';

test('query templates bind by name, match Kysely, and never run inside another flow’s transaction', async () => {
  const store = await openStore({ path: ':memory:' });
  const { db } = store;
  try {
    const insert = queryTemplate((p: (n: 'cid' | 'size') => never) =>
      db
        .insertInto('blobs')
        .values({ cid: p('cid'), size: p('size'), created_at: 7 })
        .onConflict((oc) => oc.column('cid').doNothing()),
    );
    const bySize = queryTemplate((p: (n: 'min') => never) =>
      db.selectFrom('blobs').selectAll().where('size', '>=', p('min')).orderBy('cid'),
    );
    assert.deepEqual(
      insert.slots.map((s) => ('name' in s ? s.name : s.value)),
      ['cid', 'size', 7],
    );
    for (const stmt of [templateRunner(store.raw), templateRunner(undefined)]) {
      await db.deleteFrom('blobs').execute();
      assert.equal(await stmt.run(db, insert, { cid: 'a', size: 1 }), 1n);
      assert.equal(await stmt.run(db, insert, { cid: 'a', size: 1 }), 0n);
      await stmt.run(db, insert, { cid: 'b', size: 5 });
      const rows = await stmt.all(db, bySize, { min: 2 });
      assert.deepEqual(rows, await db.selectFrom('blobs').selectAll().where('size', '>=', 2).execute());
      assert.equal((await stmt.first(db, bySize, { min: 0 }))?.cid, 'a');
      await assert.rejects(stmt.all(db, bySize, {} as { min: number }), /min has no value/);
    }
    // Another flow's open transaction: a read on the connection waits for it (and never sees its
    // uncommitted rows), while the transaction's own reads run at once.
    const stmt = templateRunner(store.raw);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let insideSaw = -1;
    const trx = db.transaction().execute(async (t) => {
      await stmt.run(t, insert, { cid: 'c', size: 9 });
      insideSaw = (await stmt.all(t, bySize, { min: 9 })).length;
      await gate;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(store.sqlite.inTransaction, true);
    let outsideSaw = -1;
    const outside = stmt.all(db, bySize, { min: 9 }).then((rows) => {
      outsideSaw = rows.length;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(insideSaw, 1);
    assert.equal(outsideSaw, -1, 'the read waits for the transaction');
    release();
    await trx;
    await outside;
    assert.equal(outsideSaw, 1);
  } finally {
    await store.close();
  }
});
