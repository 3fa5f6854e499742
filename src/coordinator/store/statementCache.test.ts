import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { cachingDatabase, limitSlots } from './statementCache.ts';

test('prepared statements are reused per SQL text, never while iterating, and the cache is bounded', () => {
  const sqlite = new SQLite(':memory:');
  const db = cachingDatabase(sqlite, 2);
  try {
    db.prepare('create table t (id integer primary key, v text)').run([]);
    const insert = db.prepare('insert into t (v) values (?)');
    assert.equal(db.prepare('insert into t (v) values (?)'), insert);
    for (const v of ['a', 'b', 'c']) insert.run([v]);
    const select = db.prepare('select v from t order by id');
    assert.equal(select.reader, true);
    assert.equal(insert.reader, false);
    // A statement being iterated is busy: the same SQL meanwhile runs on a fresh one.
    const seen: unknown[] = [];
    for (const row of select.iterate([])) {
      const again = db.prepare('select v from t order by id');
      assert.notEqual(again, select);
      seen.push(row, again.all([]).length);
    }
    assert.deepEqual(seen, [{ v: 'a' }, 3, { v: 'b' }, 3, { v: 'c' }, 3]);
    assert.equal(db.prepare('select v from t order by id'), select);
    // Bounded: two texts kept; the least recently used one is prepared anew.
    db.prepare('select 1');
    db.prepare('select 2');
    assert.notEqual(db.prepare('insert into t (v) values (?)'), insert);
  } finally {
    db.close();
  }
  assert.equal(sqlite.open, false);
});

test('a LIMIT or OFFSET placeholder runs with its integer written into the SQL, with the same rows', () => {
  const sqlite = new SQLite(':memory:');
  const db = cachingDatabase(sqlite);
  try {
    db.prepare('create table t (id integer primary key, v text)').run([]);
    const insert = db.prepare('insert into t (v) values (?)');
    for (const v of ['a', 'b', 'c', 'd', 'e']) insert.run([v]);
    assert.deepEqual(limitSlots('select * from t where v > ? order by id limit ? offset ?'), [1, 2]);
    assert.equal(limitSlots("select '?' from t where v = ?"), undefined, 'no LIMIT placeholder');
    const page = db.prepare('select v from t where v > ? order by id limit ? offset ?');
    assert.equal(page.reader, true, 'a select stays a reader');
    assert.deepEqual(page.all(['a', 2, 1]), [{ v: 'c' }, { v: 'd' }], 'integers inlined');
    assert.deepEqual(page.all(['a', 2n, 0n]), [{ v: 'b' }, { v: 'c' }], 'bigints inlined');
    assert.throws(
      () => page.all(['a', 1.5, 0]),
      /datatype mismatch/,
      'a non-integer limit stays bound: SQLite refuses it',
    );
    assert.deepEqual(page.get(['b', 1, 0]), { v: 'c' }, 'get');
    // The inlined text is a statement of its own in the cache; iterating it while the same query
    // runs again takes a fresh one.
    const seen: unknown[] = [];
    for (const row of page.iterate(['a', 2, 0]) as Iterable<{ v: string }>)
      seen.push(row.v, page.all(['a', 1, 0]).length);
    assert.deepEqual(seen, ['b', 1, 'c', 1]);
    const del = db.prepare('delete from t where id in (select id from t order by id limit ?)');
    assert.equal(del.reader, false, 'a delete is no reader');
    assert.equal(del.run([2]).changes, 2, 'a write with a LIMIT in a subquery runs with it inlined');
    assert.deepEqual(db.prepare('select v from t order by id limit ?').all([10]), [
      { v: 'c' },
      { v: 'd' },
      { v: 'e' },
    ]);
  } finally {
    db.close();
  }
});
