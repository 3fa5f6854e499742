/**
 * Reads of `ledger_entries` the HTTP API needs beyond balances (readBalances.ts): how many tasks
 * an open epoch has charged so far.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Charge entries of one epoch: one per task settled in it.
 *
 * @example const tasksSettled = await countCharges(db, epoch);
 */
export async function countCharges(db: Kysely<Database>, epoch: number): Promise<number> {
  const row = await db
    .selectFrom('ledger_entries')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('epoch', '=', epoch)
    .where('kind', '=', 'charge')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
