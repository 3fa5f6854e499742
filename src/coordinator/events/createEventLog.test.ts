import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from '../store/openStore.ts';
import { createEventLog } from './createEventLog.ts';

/** MAX_EVENT_STRING in createEventLog.ts. */
const MAX_EVENT_STRING = 512;

async function openJob(
  db: Awaited<ReturnType<typeof openStore>>['db'],
  id: string,
  status: 'running' | 'completed',
) {
  await db
    .insertInto('jobs')
    .values({
      id,
      client: '0x000000000000000000000000000000000000c11e',
      nonce: id,
      kind: 'onnx.infer',
      spec: '{}',
      status,
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
}

test("a provider's long failure message is truncated in the log, not stored whole", async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const events = createEventLog(store.db, store.raw);
    await events.append(store.db, null, 'task.failed', {
      code: 'PLX_TASK_RUNTIME_ERROR',
      message: 'x'.repeat(100_000),
    });
    const [e] = await events.since(null, 0);
    assert.ok(e, 'e');
    const stored = JSON.stringify(e.data);
    // Issue 16: every failure report added its full message (kilobytes) to the log.
    assert.ok(stored.length < MAX_EVENT_STRING + 100, `stored ${stored.length} characters`);
    assert.equal((e.data as { code: string }).code, 'PLX_TASK_RUNTIME_ERROR');
  } finally {
    await store.close();
  }
});

test('the log keeps a bounded number of events, and every event of an open job', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const events = createEventLog(store.db, store.raw, { retain: 100, pruneEvery: 50 });
    await openJob(store.db, 'open', 'running');
    await openJob(store.db, 'done', 'completed');
    await events.append(store.db, 'open', 'job.submitted', {});
    await events.append(store.db, 'done', 'job.submitted', {});
    for (let i = 0; i < 1_000; i++) {
      await events.append(store.db, null, 'provider.connected', { i });
      events.notify(null);
    }
    await events.prune();
    const all = await store.db.selectFrom('events').select(['id', 'job_id']).execute();
    assert.ok(all.length <= 101, `${all.length} events kept`);
    assert.ok(
      all.some((e) => e.job_id === 'open'),
      "an open job's events are kept",
    );
    assert.ok(!all.some((e) => e.job_id === 'done'), "a finished job's old events go");
    assert.equal(await events.lastId(), 1_002);
  } finally {
    await store.close();
  }
});
