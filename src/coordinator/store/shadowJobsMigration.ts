import type { Migration } from 'kysely';

/**
 * `0053_shadow_jobs` (listed in laterMigrations.ts): the job a canary lease claims to belong to
 * (docs/verification.md "Canaries look like work"). One row per canary lease: a fresh job id, a
 * fresh client address nobody holds, and the public part of a real job spec of the same model.
 * Its status is its lease's (leased: running; otherwise completed).
 */
export const shadowJobsMigration: Migration = {
  async up(db) {
    await db.schema
      .createTable('shadow_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('lease_id', 'text', (c) => c.notNull())
      .addColumn('client', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('created_at', 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('shadow_jobs_created')
      .on('shadow_jobs')
      .columns(['created_at', 'id'])
      .execute();
    await db.schema.createIndex('shadow_jobs_lease').on('shadow_jobs').columns(['lease_id']).execute();
  },
};

/** A canary lease's shadow job (0053). */
export type ShadowJobsTable = {
  id: string;
  lease_id: string;
  client: string;
  kind: string;
  /** JSON: the public part of the spec (kind, model, verification), as a real job shows it. */
  spec: string;
  created_at: number;
};
