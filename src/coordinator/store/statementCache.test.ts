import assert from 'node:assert/strict';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { cachingDatabase } from './statementCache.ts';

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
