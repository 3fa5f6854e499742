import type { Migration } from 'kysely';

/**
 * The store's migrations from 0011 on (the first ten are in migrations.ts, which merges these in;
 * Kysely runs all of them in name order). The same rules: never edit one that has shipped, one
 * list for both dialects.
 */
export const laterMigrations: Record<string, Migration> = {
  // Per-provider uptime over time (issue 22, the explorer's provider charts): a provider's
  // sessions are read by provider and time, which the time-only index did not serve.
  '0016_provider_uptime': {
    async up(db) {
      await db.schema
        .createIndex('provider_sessions_provider')
        .on('provider_sessions')
        .columns(['provider', 'connected_at'])
        .execute();
    },
  },
  // Strategic trust (issue 15, docs/verification.md "Canary reviews"): who agreed on each canary's
  // source verdict, re-verifications of doubtful canaries by a trusted provider, the reputation a
  // provider had before a canary miss (to make it whole), and reversed faults with their slash.
  '0014_strategic_trust': {
    async up(db) {
      await db.schema
        .createTable('canary_sources')
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('canary_sources_pk', ['canary_id', 'provider'])
        .execute();
      await db.schema
        .createIndex('canary_sources_provider')
        .on('canary_sources')
        .columns(['provider'])
        .execute();
      await db.schema
        .createTable('canary_reviews')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('lease_id', 'text')
        .addColumn('provider', 'text')
        .addColumn('evidence', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('check_lease_id', 'text')
        .addColumn('checked_by', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('resolved_at', 'integer')
        .execute();
      await db.schema.createIndex('canary_reviews_status').on('canary_reviews').columns(['status']).execute();
      await db.schema
        .createIndex('canary_reviews_check')
        .on('canary_reviews')
        .columns(['check_lease_id'])
        .execute();
      await db.schema
        .createIndex('canary_reviews_canary')
        .on('canary_reviews')
        .columns(['canary_id'])
        .execute();
      await db.schema.alterTable('canary_assignments').addColumn('rep_before', 'text').execute();
      await db.schema
        .createTable('fault_reversals')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('slash_id', 'integer')
        .addColumn('withdrawn', 'integer', (c) => c.notNull())
        .addColumn('compensation', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('fault_reversals_provider')
        .on('fault_reversals')
        .columns(['provider'])
        .execute();
      await db.schema
        .createIndex('fault_reversals_slash')
        .on('fault_reversals')
        .columns(['slash_id'])
        .execute();
    },
  },
  // Region audits of render jobs (issue 20, docs/render.md): the region each auditor was asked to
  // render, so its output is checked against it (and the comparison crops the primary's image).
  '0013_render_regions': {
    async up(db) {
      await db.schema
        .createTable('render_audit_regions')
        .addColumn('assignment_id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('crop', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('render_audit_regions_task')
        .on('render_audit_regions')
        .columns(['task_id'])
        .execute();
    },
  },
};
