import { type Migration, sql } from 'kysely';

/**
 * Migrations for the coordinator's cost per task (issue 18, docs/benchmarks.md "coordinator-load";
 * merged into the list by migrations.ts). The same rules as the others: never edit one that has
 * shipped, one list for both dialects.
 */
export const speedMigrations: Record<string, Migration> = {
  // A job's done count and the time of its last finished task in a row of their own
  // (coordinator/jobs/jobProgress.ts): counted in the job's row, every verdict rewrote that whole
  // row, the signed spec with every input's content id included (~180 KB for 1,500 inputs, read
  // and compared page by page: ~40 µs per task at that size, twice that at 3,000). The column
  // goes, so nothing reads a count that no longer moves.
  '0059_job_progress': {
    async up(db) {
      await db.schema
        .createTable('job_progress')
        .addColumn('job_id', 'text', (c) => c.primaryKey())
        .addColumn('tasks_done', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
      await sql`INSERT INTO job_progress (job_id, tasks_done, updated_at) SELECT id, tasks_done, updated_at FROM jobs WHERE tasks_done <> 0`.execute(
        db,
      );
      await db.schema.alterTable('jobs').dropColumn('tasks_done').execute();
    },
  },
  // The dispatch's queue page seeks to its (queued_at, id) cursor (work/workQueries.ts
  // `queuedPage`): the queue index ends with the id, so a job's tasks (which share one queued_at)
  // come out in id order from the index instead of all being read and sorted for every page.
  '0060_tasks_queue_id': {
    async up(db) {
      await db.schema.dropIndex('tasks_queue').execute();
      await db.schema.createIndex('tasks_queue').on('tasks').columns(['status', 'queued_at', 'id']).execute();
    },
  },
};
