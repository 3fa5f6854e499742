/**
 * The slash cursor (`market_meta.slashes_applied_through`): slashes with a higher id are not
 * applied yet. Closing an epoch applies every pending slash that no review withdrew and moves the
 * cursor; a review's reversal withdraws a pending slash (or, once applied, owes it back). The two
 * must take turns, or a reversal that commits between the close's read of pending slashes and its
 * write of the cursor marks a slash withdrawn that the close applies anyway. Both transactions
 * therefore start with `lockSlashCursor` (`SELECT … FOR UPDATE` of the cursor's row on
 * PostgreSQL, where replicas share the store; SQLite has one writer at a time), and the close
 * re-reads, under the lock, which of the slashes it read before its transaction were withdrawn
 * meanwhile (`stillPending`).
 */
import type { Transaction } from 'kysely';
import { dialectOf } from '../store/dialect.ts';
import type { Database } from '../store/schema.ts';

const KEY = 'slashes_applied_through';

/**
 * Locks the slash cursor's row until the caller's transaction ends (creating it at 0 first) and
 * returns its value: the highest slash id an epoch applied.
 *
 * @example
 * const through = await lockSlashCursor(trx);
 */
export async function lockSlashCursor(trx: Transaction<Database>): Promise<number> {
  await trx
    .insertInto('market_meta')
    .values({ key: KEY, value: '0' })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  let q = trx.selectFrom('market_meta').select('value').where('key', '=', KEY);
  if (dialectOf(trx) === 'postgres') q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return Number(row?.value ?? '0');
}

/**
 * The slash requests (read before the closing transaction) still to apply, re-read under the
 * cursor's lock: none withdrawn by a reversal and none at or below the cursor.
 *
 * @example
 * pre.slashRequests = await stillPending(trx, pre.slashRequests, await lockSlashCursor(trx));
 */
export async function stillPending<R extends { id: number }>(
  trx: Transaction<Database>,
  requests: readonly R[],
  through: number,
): Promise<R[]> {
  if (requests.length === 0) return [];
  const withdrawn = new Set(
    (
      await trx
        .selectFrom('fault_reversals')
        .select('slash_id')
        .where('withdrawn', '=', 1)
        .where(
          'slash_id',
          'in',
          requests.map((r) => r.id),
        )
        .execute()
    ).map((r) => Number(r.slash_id)),
  );
  return requests.filter((r) => r.id > through && !withdrawn.has(r.id));
}
