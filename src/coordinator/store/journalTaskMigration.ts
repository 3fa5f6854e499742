import type { Migration } from 'kysely';

/**
 * `0057_journal_task_id` (listed in laterMigrations.ts, kept here for that file's size): the task a
 * reputation journal entry is about (a verdict's outcome, a canary's, a fault's, a timeout's), so a
 * validator cross-checks the entry against the bundle's facts on that task (docs/validators.md
 * "Journal task ids"). Entries journaled before it carry none.
 */
export const journalTaskMigration: Migration = {
  async up(db) {
    await db.schema.alterTable('reputation_journal').addColumn('task_id', 'text').execute();
  },
};
