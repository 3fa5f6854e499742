/**
 * Which slashes a close applies (slashCursor.ts), against a real SQLite store: a slash is applied
 * once, by the first close after it, whatever order ids and stamps come in.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../store/openStore.ts';
import { pendingSlashRequests } from './readEpochInputs.ts';
import { lockSlashCursor, stillPending } from './slashCursor.ts';
import { markSlashesApplied } from './writeEpoch.ts';

test('a slash with a lower id stamped past the epoch end is applied by the next close, not skipped (security review)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-slashes-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const end1 = 1_000_000;
    const end2 = 2_000_000;
    const insert = async (provider: string, created_at: number) =>
      (
        await store.db
          .insertInto('slashes')
          .values({ task_id: `t-${provider}`, provider, amount: '500', evidence: '{}', created_at })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    // Id 1 stamped after epoch 1's end (its time taken before it waited for the writer, or another
    // replica's clock), id 2 before it.
    const late = await insert('0xp', end1 + 1);
    const early = await insert('0xq', end1 - 1);
    assert.ok(late < early, 'the late-stamped slash has the lower id (the case under test)');

    // As closeEpoch.ts: the requests read before its transaction, re-read under the lock.
    const close = async (epoch: number, endsAt: number) => {
      const pre = await pendingSlashRequests(store.db, endsAt);
      return store.db.transaction().execute(async (trx) => {
        await lockSlashCursor(trx);
        const apply = await stillPending(trx, pre);
        await markSlashesApplied(
          trx,
          epoch,
          apply.map((r) => r.id),
        );
        return apply.map((r) => r.id);
      });
    };
    assert.deepEqual(await close(1, end1), [early], 'epoch 1 applies the slash stamped inside it');
    assert.deepEqual(await close(2, end2), [late], 'epoch 2 applies the lower id the cursor used to skip');
    assert.deepEqual(await close(3, 3_000_000), [], 'each slash is applied once');
    const rows = await store.db.selectFrom('slashes').select(['id', 'applied_epoch']).orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => [r.id, r.applied_epoch]),
      [
        [late, 2],
        [early, 1],
      ],
    );
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
