import type { Migration } from 'kysely';

/**
 * `0058_canary_holds` (listed in laterMigrations.ts): for each canary miss, what decided between a
 * fault and a hold for review (work/canaries.ts): when, the provider's record (`consecutiveValid`)
 * as the coordinator read it, the canary's review state then, and whether it held the miss. A
 * validator re-derives the long-record rule from them and checks the record against its journal
 * replay (docs/validators.md "Canary holds").
 */
export const canaryHoldMigration: Migration = {
  async up(db) {
    await db.schema
      .createTable('canary_holds')
      .addColumn('lease_id', 'text', (c) => c.primaryKey())
      .addColumn('at', 'integer', (c) => c.notNull())
      .addColumn('record', 'integer', (c) => c.notNull())
      .addColumn('review', 'text')
      .addColumn('held', 'integer', (c) => c.notNull())
      .execute();
  },
};

/** One canary miss's hold decision (migration 0058). */
export type CanaryHoldsTable = {
  lease_id: string;
  at: number;
  record: number;
  review: string | null;
  held: number;
};
