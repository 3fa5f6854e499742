import type { Migration } from 'kysely';

/**
 * `0072_public_reputations` (listed in migrations.ts): what `GET /v1/providers` shows of a
 * provider's reputation while an epoch is open (docs/verification.md "Reputation in public"). A
 * row holds the provider's reputation as it stood when epoch `epoch` began; it is rolled forward by
 * the first change of the provider's reputation in a later epoch. The public view reads the row
 * while its epoch is the current one and the stored reputation otherwise (nothing changed since the
 * epoch began), so no verified outcome of the open epoch — a passed canary above all — shows before
 * the epoch ends.
 */
export const publicReputationMigrations: Record<string, Migration> = {
  '0072_public_reputations': {
    async up(db) {
      await db.schema
        .createTable('public_reputations')
        .addColumn('provider', 'text', (c) => c.primaryKey())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('reputation', 'text')
        .execute();
    },
  },
};

/** A provider's reputation as of the start of an epoch (0072). */
export type PublicReputationTable = {
  /** Lowercase address. */
  provider: string;
  /** The epoch whose start `reputation` is the state at. */
  epoch: number;
  /** JSON ReputationState; null: the provider had none yet (a newcomer's is shown). */
  reputation: string | null;
};
