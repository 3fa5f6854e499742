import type { Migration } from 'kysely';

/**
 * `0070_review_check_basis` (merged in by migrations.ts): what each review check lease was drawn
 * on (`ReviewCheckBasis`, settlement/epochFacts.ts: the draw's time, seed epoch and value, the
 * review's parties, their and the checker's identities and the hub funders), kept for the memos
 * and reinstatements that cite the check (docs/validators.md "Review checkers").
 */
export const reviewCheckMigrations: Record<string, Migration> = {
  '0070_review_check_basis': {
    async up(db) {
      await db.schema
        .createTable('review_check_bases')
        .addColumn('lease_id', 'text', (c) => c.primaryKey())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

/** A review check lease's draw basis (migration 0070): JSON `ReviewCheckBasis`. */
export type ReviewCheckBasesTable = {
  lease_id: string;
  body: string;
};
