import { type Kysely, type Migration, sql } from 'kysely';
import { rebuildBalances } from '../ledger/ledgerBalances.ts';
import type { Database } from './schema.ts';

/**
 * Migrations of the s10 security review (kept apart from laterMigrations.ts, near its size limit;
 * merged in by migrations.ts). The same rules: never edit one that has shipped, one list for both
 * dialects.
 */
export const securityMigrations: Record<string, Migration> = {
  // Blobs providers uploaded (security review s10 F1: a provider's result could name any stored
  // blob, another client's private output included, as its output). Uploads under a provider key
  // left no record; outputs delivered so far count as uploaded by the provider that delivered them.
  '0064_provider_uploads': {
    async up(db) {
      await db.schema
        .createTable('provider_uploads')
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('provider_uploads_pk', ['cid', 'provider'])
        .execute();
      await sql`INSERT INTO provider_uploads (cid, provider, created_at)
        SELECT output_cid, provider, MIN(created_at) FROM task_executions GROUP BY output_cid, provider`.execute(
        db,
      );
    },
  },
  // Balances kept as postings are appended (security review s10 F3: GET /v1/providers summed the
  // whole journal in JS on every call; ledger/ledgerBalances.ts), built from the journal so far.
  '0065_ledger_balances': {
    async up(db) {
      await db.schema
        .createTable('ledger_balances')
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('closing', 'integer', (c) => c.notNull())
        .addColumn('balance', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_balances_pk', ['account', 'epoch', 'closing'])
        .execute();
      await db.schema
        .createIndex('ledger_balances_epoch')
        .on('ledger_balances')
        .columns(['epoch', 'closing'])
        .execute();
      await rebuildBalances(db as Kysely<Database>);
    },
  },
  // Lease ids bound to their task (protocol v3 gap: a signature over an opaque id named no task):
  // the salt each new lease id is derived with, published in the epoch's evidence (version 11).
  '0066_lease_salts': {
    async up(db) {
      await db.schema.alterTable('assignments').addColumn('lease_salt', 'text').execute();
      await db.schema.alterTable('canary_assignments').addColumn('lease_salt', 'text').execute();
    },
  },
};
