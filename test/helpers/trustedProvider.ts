/**
 * Genesis operators for process tests: writes a provider record past the trust bar to the store
 * before the provider first connects (the coordinator keeps a stored reputation on connect). Under
 * "no ground truth, no fault" (docs/verification.md) an untrusted majority faults nobody, so a
 * test that expects a cheater to be caught needs one honest provider trusted this way.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../src/coordinator/store/schema.ts';

/** Stores `address` as a provider with a long clean record (score ≥ 0.9, 20 verified results). */
export async function trustProvider(db: Kysely<Database>, address: string): Promise<void> {
  const t = Date.now();
  await db
    .insertInto('providers')
    .values({
      address: address.toLowerCase(),
      hardware: '{}',
      slots: 1,
      region: 'unknown',
      agent_version: 'unknown',
      connected: 0,
      first_seen: t,
      last_seen: t,
      tasks_completed: 0,
      tasks_failed: 0,
      reputation: JSON.stringify({
        alpha: 40,
        beta: 1,
        consecutiveValid: 20,
        verifiedValid: 20,
        faults: 0,
        timeouts: 0,
        updatedAt: t,
      }),
    })
    .execute();
}
