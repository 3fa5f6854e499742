import type { Migration } from 'kysely';

/**
 * Migrations about what a lease fixes when it is made (listed by migrations.ts; kept here for
 * laterMigrations.ts's size). docs/market.md "Units and classes", docs/verification.md.
 */
export const leaseMigrations: Record<string, Migration> = {
  // The class a lease is billed in, fixed at lease time: a provider that reconnected mid-lease
  // claiming another GPU was billed in the new class (market/createMarket.ts `leaseClass`).
  '0052_assignment_lease_class': {
    async up(db) {
      await db.schema.alterTable('assignments').addColumn('lease_class', 'text').execute();
    },
  },
  // The most one execution may bill, fixed at lease time from the job's verified task size: a
  // lone unaudited provider holding its result back until the deadline billed its whole lease.
  '0063_assignment_size_cap': {
    async up(db) {
      await db.schema.alterTable('assignments').addColumn('size_cap_milli', 'text').execute();
    },
  },
};
