/**
 * Event logs of two replicas on one PostgreSQL database (pgEventBridge.ts): an event appended on
 * one wakes the other's subscribers (LISTEN/NOTIFY), and a reader never sees a higher id before
 * a lower one that is still being committed (the high-water mark), so a stream resuming from its
 * last id has no gap. With CI=true an unreachable PostgreSQL fails instead of skipping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { createEventLog } from '../src/coordinator/events/createEventLog.ts';
import { createPgEventBridge, EVENTS_CHANNEL } from '../src/coordinator/events/pgEventBridge.ts';
import { openStore, type PostgresStore } from '../src/coordinator/store/openStore.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const skip = await postgresSkip();

function replicaLog(store: PostgresStore) {
  const bridge = createPgEventBridge({
    url: store.url,
    send: (p) => sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${p})`.execute(store.db),
  });
  return { events: createEventLog(store.db, undefined, { bridge }), bridge };
}

test('events cross replicas and are read without gaps while another replica commits', { skip }, async () => {
  const database = await createTestDatabase();
  const a = (await openStore({ url: database.url })) as PostgresStore;
  const b = (await openStore({ url: database.url })) as PostgresStore;
  const ra = replicaLog(a);
  const rb = replicaLog(b);
  try {
    // Replica B's subscriber wakes on replica A's event.
    const woken = new Promise<void>((resolve) => {
      const off = rb.events.subscribe('job-1', () => {
        off();
        resolve();
      });
    });
    // Both listeners are up once a settled id can be read through them.
    await Promise.all([ra.bridge.settledId(), rb.bridge.settledId()]);
    await a.db.transaction().execute((trx) => ra.events.append(trx, 'job-1', 'job.submitted', { n: 1 }));
    ra.events.notify('job-1');
    await woken;
    const seen = await rb.events.since('job-1', 0);
    assert.deepEqual(
      seen.map((e) => e.type),
      ['job.submitted'],
    );

    // A holds an open transaction with an event (a lower id); B commits a later one meanwhile.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let appendedA: () => void = () => {};
    const aAppended = new Promise<void>((r) => {
      appendedA = r;
    });
    const slow = a.db.transaction().execute(async (trx) => {
      await ra.events.append(trx, 'job-2', 'task.assigned', { from: 'a' });
      appendedA();
      await held;
    });
    await aAppended;
    await b.db
      .transaction()
      .execute((trx) => rb.events.append(trx, 'job-2', 'task.completed', { from: 'b' }));
    // The reader's high-water mark waits for A's transaction: nothing of job-2 may be read
    // until A's lower id has committed, then both come, in id order.
    const reading = rb.events.since('job-2', 0);
    let done = false;
    void reading.then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(done, false, 'the read waits for the transaction holding a lower id');
    release();
    await slow;
    const rows = await reading;
    assert.deepEqual(
      rows.map((e) => (e.data as { from: string }).from),
      ['a', 'b'],
    );
    assert.ok(rows[0]!.id < rows[1]!.id, 'rows[0]!.id < rows[1]!.id');
  } finally {
    await ra.bridge.stop();
    await rb.bridge.stop();
    await a.close();
    await b.close();
    await database.drop();
  }
});
