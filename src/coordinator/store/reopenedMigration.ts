import type { Migration } from 'kysely';

/**
 * `0044_reopened_outputs` (listed in laterMigrations.ts, kept here for that file's size): the
 * unchecked outputs of running jobs reopened because their provider was faulted
 * (work/reopenedPayback.ts), so that a fault reversed on review pays back the right ones.
 */
export const reopenedOutputsMigration: Migration = {
  async up(db) {
    await db.schema
      .createTable('reopened_outputs')
      .addColumn('task_id', 'text', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('job_id', 'text', (c) => c.notNull())
      .addColumn('fault_task_id', 'text', (c) => c.notNull())
      .addColumn('output_cid', 'text', (c) => c.notNull())
      .addColumn('reopened_at', 'integer', (c) => c.notNull())
      .addColumn('proof', 'text')
      .addColumn('reinstated_at', 'integer')
      .addColumn('settled_at', 'integer')
      .addColumn('outcome', 'text')
      .addPrimaryKeyConstraint('reopened_outputs_pk', ['task_id', 'provider'])
      .execute();
    await db.schema
      .createIndex('reopened_outputs_fault')
      .on('reopened_outputs')
      .columns(['provider', 'fault_task_id'])
      .execute();
    await db.schema
      .createIndex('reopened_outputs_pending')
      .on('reopened_outputs')
      .columns(['settled_at', 'reinstated_at'])
      .execute();
  },
};
