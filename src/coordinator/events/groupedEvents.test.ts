import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommit } from '../store/groupCommit.ts';
import { openStore } from '../store/openStore.ts';
import { createEventLog } from './createEventLog.ts';

test('a group commit inserts its bodies’ events together before COMMIT, in append order, without a refused body’s', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const { db, raw } = store;
    const events = createEventLog(db, raw);
    let inserts = 0;
    const prepare = raw.prepare;
    raw.prepare = (text: string) => {
      if (text.startsWith('insert into "events"')) inserts++;
      return prepare(text);
    };
    const commits = createGroupCommit(db);
    const body = (name: string, n: number, refuse = false) =>
      commits.run(async (trx) => {
        for (let i = 0; i < n; i++) await events.append(trx, null, 'probe', { name, i });
        if (refuse) throw new Error(`${name} refused`);
        return name;
      });
    const settled = await Promise.allSettled([body('a', 3), body('b', 2, true), body('c', 4), body('d', 1)]);
    assert.deepEqual(
      settled.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    // Eight rows: one insert of 8 (per append, it was 10 inserts, the refused body's included).
    assert.equal(inserts, 1);
    const rows = await events.since(null, 0);
    assert.deepEqual(
      rows.map((e) => e.data),
      [
        { name: 'a', i: 0 },
        { name: 'a', i: 1 },
        { name: 'a', i: 2 },
        { name: 'c', i: 0 },
        { name: 'c', i: 1 },
        { name: 'c', i: 2 },
        { name: 'c', i: 3 },
        { name: 'd', i: 0 },
      ],
    );
    assert.deepEqual(
      rows.map((e) => e.id),
      [1, 2, 3, 4, 5, 6, 7, 8],
      'ids in append order, no gap',
    );
    // A batch of a size that is no power of two: 5 + 1 rows → inserts of 4 and 2.
    inserts = 0;
    await Promise.all([body('e', 5), body('f', 1)]);
    assert.equal(inserts, 2);
    const more = await events.since(null, 8);
    assert.deepEqual(
      more.map((e) => `${(e.data as { name: string }).name}${(e.data as { i: number }).i}`),
      ['e0', 'e1', 'e2', 'e3', 'e4', 'f0'],
    );
    // Outside a group, an append inserts at once.
    inserts = 0;
    await events.append(db, null, 'probe', { name: 'g', i: 0 });
    assert.equal(inserts, 1);
    assert.equal((await events.since(null, 14)).length, 1);
  } finally {
    await store.close();
  }
});
