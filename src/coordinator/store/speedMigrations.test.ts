/**
 * The migrations for the cost per task (speedMigrations.ts): a job's done count moves to
 * job_progress with its value and time (0059); the queue page seeks on the queue index (0060).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { findJob } from '../jobs/jobQueries.ts';
import { workQueries } from '../work/workQueries.ts';
import { migrationProvider } from './migrations.ts';
import { openStore } from './openStore.ts';
import { templateRunner } from './queryTemplate.ts';
import type { Database } from './schema.ts';

test('0059 moves each job done count and its time to job_progress; the job reads as before', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-0059-'));
  const path = join(dir, 'plexus.db');
  try {
    const sqlite = new SQLite(path);
    const old = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    const r = await new Migrator({ db: old, provider: migrationProvider }).migrateTo('0048_session_draining');
    assert.equal(r.error, undefined, 'migrated to 0048');
    const insert = sqlite.prepare(
      `INSERT INTO jobs (id, client, nonce, kind, spec, status, tasks_total, tasks_done, deadline_ms, issued_at, signature, created_at, updated_at)
       VALUES (?, '0xc1', ?, 'onnx.infer', '{}', 'running', 4, ?, 1, 1, '0x', 10, ?)`,
    );
    insert.run('0xa', '0xa', 3, 500);
    insert.run('0xb', '0xb', 0, 20);
    await old.destroy();

    const store = await openStore({ path });
    try {
      const a = await findJob(store.db, '0xa');
      assert.equal(a?.tasks_done, 3, 'the done count moved');
      assert.equal(a?.updated_at, 500, 'and the time of the last one');
      const b = await findJob(store.db, '0xb');
      assert.equal(b?.tasks_done, 0, 'a job with none done reads 0');
      assert.equal(b?.updated_at, 20);
      const cols = await sql<{ name: string }>`select name from pragma_table_info('jobs')`.execute(store.db);
      assert.ok(!cols.rows.some((c) => c.name === 'tasks_done'), 'the job row has no count left to go stale');
      // A later task done: the count and the time move in job_progress, the job shows both.
      const q = workQueries(store.db);
      const stmt = templateRunner(store.raw);
      const done = await stmt.first(store.db, q.jobTaskDone, { id: '0xa', at: 900 });
      assert.equal(done?.tasks_done, 4);
      assert.deepEqual(
        {
          done: (await findJob(store.db, '0xa'))?.tasks_done,
          at: (await findJob(store.db, '0xa'))?.updated_at,
        },
        { done: 4, at: 900 },
      );
      const first = await stmt.first(store.db, q.jobTaskDone, { id: '0xb', at: 950 });
      assert.equal(first?.tasks_done, 1, 'a first task done creates the row');
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('0060: the queue page seeks its cursor on the queue index, no sort, in (queued_at, id) order', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const q = workQueries(store.db);
    const plan = store.sqlite.prepare(`explain query plan ${q.queuedPage.sql}`).all('queued', 0, '', 16) as {
      detail: string;
    }[];
    const details = plan.map((p) => p.detail).join(' | ');
    assert.match(details, /USING INDEX tasks_queue \(status=\? AND \(queued_at,id\)>\(\?,\?\)\)/, details);
    assert.doesNotMatch(details, /TEMP B-TREE/, `no sort per page: ${details}`);

    await store.db
      .insertInto('jobs')
      .values({
        id: '0xj',
        client: '0xc1',
        nonce: '1',
        kind: 'onnx.infer',
        spec: '{}',
        status: 'queued',
        tasks_total: 7,
        deadline_ms: 1,
        issued_at: 1,
        signature: '0x',
        error_code: null,
        error_message: null,
        created_at: 1,
        updated_at: 1,
      })
      .execute();
    // A job's tasks share one queued_at; one task queued later; one not queued.
    const ids = ['0x05', '0x01', '0x04', '0x02', '0x03', '0x06', '0x07'];
    await store.db
      .insertInto('tasks')
      .values(
        ids.map((id, idx) => ({
          id,
          job_id: '0xj',
          idx,
          input_cid: 'c',
          status: id === '0x06' ? ('completed' as const) : ('queued' as const),
          attempts: 0,
          output_cid: null,
          provider: null,
          result: null,
          last_error: null,
          queued_at: id === '0x02' ? 200 : 100,
          updated_at: 1,
        })),
      )
      .execute();
    const stmt = templateRunner(store.raw);
    const seen: string[] = [];
    let after = -1;
    let afterId = '';
    for (;;) {
      const page = await stmt.all(store.db, q.queuedPage, { after, afterId, limit: 2 });
      if (page.length === 0) break;
      for (const t of page) {
        seen.push(t.id);
        after = t.queued_at;
        afterId = t.id;
      }
    }
    assert.deepEqual(
      seen,
      ['0x01', '0x03', '0x04', '0x05', '0x07', '0x02'],
      'every queued task once, in order',
    );
  } finally {
    await store.close();
  }
});
