import type { Migration } from 'kysely';

/**
 * `0068_shadow_pending` (listed in migrations.ts): shadow jobs stocked ahead of their canary lease
 * (docs/verification.md "Canaries look like work"). A row is a job the public sees `queued`, with
 * one queued task, from its submission time on; a canary lease claims it (the row moves to
 * `shadow_jobs` under the same id and submission time), so the lease moves `/v1/stats` and the
 * job list as a real job's first lease does (queued → running), instead of a job appearing at the
 * lease already running.
 */
export const shadowPendingMigrations: Record<string, Migration> = {
  '0068_shadow_pending': {
    async up(db) {
      await db.schema
        .createTable('shadow_pending')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('client', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('shadow_pending_created')
        .on('shadow_pending')
        .columns(['created_at', 'id'])
        .execute();
    },
  },
};

/** A shadow job stocked ahead of its lease (0068). */
export type ShadowPendingTable = {
  id: string;
  /** The known answer its lease will carry (its model is the spec's). */
  canary_id: string;
  client: string;
  kind: string;
  /** JSON: the public part of the canary's source job's spec. */
  spec: string;
  created_at: number;
};
