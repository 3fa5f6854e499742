/**
 * Each provider's cumulative lifetime earnings as the store's ledger holds them: the rewards
 * tree's leaves (rewardsTree.ts) for an epoch already closed.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { readBalances } from './readBalances.ts';
import { earningsOfBalances } from './rewardsTree.ts';

/**
 * Cumulative lifetime earnings per provider over entries of epochs ≤ `epoch` (the rewards tree's
 * leaves), from the ledger alone.
 *
 * @example
 * const earned = await cumulativeEarnings(db, 4); // Map { '0xabc…' => 123n }
 */
export async function cumulativeEarnings(
  db: Kysely<Database> | Transaction<Database>,
  epoch: number,
): Promise<Map<string, bigint>> {
  return earningsOfBalances(await readBalances(db, { prefix: 'provider:', maxEpoch: epoch }));
}
