import type { Migration } from 'kysely';

/**
 * `0077_canary_failure_code` (listed in migrations.ts): the code of a provider's signed failure
 * report that ended a canary lease (work/canaryFailures.ts; null for every other end). Such a
 * lease is `expired` like one that ran out, and shows as a real task's failed lease does — status
 * `failed` with the provider's code — in the public counts and the provider's history
 * (jobs/shadowJobs.ts): issue 15, nothing public may tell a canary lease from a real one.
 */
export const canaryFailureMigrations: Record<string, Migration> = {
  '0077_canary_failure_code': {
    async up(db) {
      await db.schema.alterTable('canary_assignments').addColumn('error_code', 'text').execute();
    },
  },
};
