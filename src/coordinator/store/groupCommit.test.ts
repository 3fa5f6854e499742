import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { createGroupCommit } from './groupCommit.ts';
import { openStore } from './openStore.ts';
import type { Database } from './schema.ts';

/** A SQLite store with two scratch tables (a child row must name a parent row). */
async function scratchStore() {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-group-commit-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  await sql`create table parent (id integer primary key)`.execute(store.db);
  await sql`create table child (id integer primary key, p integer not null references parent(id))`.execute(
    store.db,
  );
  return {
    db: store.db,
    rows: async (table: 'parent' | 'child') =>
      (await sql<{ id: number }>`select id from ${sql.table(table)} order by id`.execute(store.db)).rows.map(
        (r) => r.id,
      ),
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const insertParent = (db: Kysely<Database>, id: number) =>
  sql`insert into parent (id) values (${id})`.execute(db);

test('bodies queued in one turn share a commit: each resolves only once all are stored; a throwing one alone is rolled back', async () => {
  const s = await scratchStore();
  try {
    const commits = createGroupCommit(s.db);
    const order: string[] = [];
    const run = (id: number, fail = false) =>
      commits
        .run(async (trx) => {
          order.push(`body ${id}`);
          await insertParent(trx, id);
          if (fail) throw new Error(`body ${id} refused`);
          return id;
        })
        .then(
          (v) => order.push(`stored ${v}`),
          (err: Error) => order.push(`refused: ${err.message}`),
        );
    await Promise.all([run(1), run(2, true), run(3)]);
    assert.deepEqual(order, [
      'body 1',
      'body 2',
      'refused: body 2 refused',
      'body 3',
      'stored 1',
      'stored 3',
    ]);
    assert.deepEqual(await s.rows('parent'), [1, 3], 'the refused body left nothing behind');

    // A lone body is a plain transaction: its error is its caller's, and nothing of it stays.
    await assert.rejects(
      commits.run(async (trx) => {
        await insertParent(trx, 4);
        throw new Error('lone refusal');
      }),
      /lone refusal/,
    );
    assert.deepEqual(await s.rows('parent'), [1, 3]);
  } finally {
    await s.close();
  }
});

test('a commit that fails rejects every body of its transaction and stores none of them', async () => {
  const s = await scratchStore();
  try {
    const commits = createGroupCommit(s.db);
    const results = await Promise.allSettled([
      commits.run(async (trx) => {
        await insertParent(trx, 10);
        return 'first';
      }),
      commits.run(async (trx) => {
        // Checked at COMMIT only: the whole transaction fails there.
        await sql`pragma defer_foreign_keys = on`.execute(trx);
        await sql`insert into child (id, p) values (1, 999)`.execute(trx);
        return 'second';
      }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
      'neither caller is told its writes are stored',
    );
    assert.deepEqual(await s.rows('parent'), [], 'nothing of the first body was committed');
    assert.deepEqual(await s.rows('child'), []);
    // The next batch commits normally.
    const after = await commits.run(async (trx) => {
      await insertParent(trx, 11);
      return 'after';
    });
    assert.equal(after, 'after');
    assert.deepEqual(await s.rows('parent'), [11]);
  } finally {
    await s.close();
  }
});
