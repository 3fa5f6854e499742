/**
 * Which slashes are applied, and the lock that orders applying and withdrawing them. Each slash
 * records the epoch whose close applied it (`slashes.applied_epoch`, null while pending; 0035).
 * Closing an epoch applies every pending slash stamped before its end that no review withdrew; a
 * review's reversal withdraws a pending slash (or, once applied, owes it back). The two must take
 * turns, or a reversal that commits between the close's read of pending slashes and its marking
 * them applied marks a slash withdrawn that the close applies anyway. Both transactions therefore
 * start with `lockSlashCursor` (`SELECT … FOR UPDATE` of one `market_meta` row on PostgreSQL, where
 * replicas share the store; SQLite has one writer at a time), and the close re-reads, under the
 * lock, which of the slashes it read before its transaction are still pending (`stillPending`).
 *
 * (Until 0035 the row held a cursor, "every slash up to the highest id an epoch applied", which
 * skipped for good a slash with a lower id the close had not read: stamped before the epoch's end
 * but written after a later one, or not yet committed on PostgreSQL — security review.)
 */
import type { ExpressionBuilder, Transaction } from 'kysely';
import { dialectOf } from '../store/dialect.ts';
import type { Database } from '../store/schema.ts';

/**
 * A `slashes` row no review withdrew (a poisoned canary's fault, work/canaryReviews.ts): what a
 * close may apply.
 *
 * @example db.selectFrom('slashes').select('id').where(notWithdrawn)
 */
export function notWithdrawn(eb: ExpressionBuilder<Database, 'slashes'>) {
  return eb.not(
    eb.exists(
      eb
        .selectFrom('fault_reversals as r')
        .select('r.id')
        .whereRef('r.slash_id', '=', 'slashes.id')
        .where('r.withdrawn', '=', 1),
    ),
  );
}

/** The row locked (its name kept from when it held the cursor). */
const KEY = 'slashes_applied_through';

/**
 * Locks the slash lock's row until the caller's transaction ends (creating it first).
 *
 * @example
 * await lockSlashCursor(trx);
 */
export async function lockSlashCursor(trx: Transaction<Database>): Promise<void> {
  await trx
    .insertInto('market_meta')
    .values({ key: KEY, value: '0' })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  let q = trx.selectFrom('market_meta').select('value').where('key', '=', KEY);
  if (dialectOf(trx) === 'postgres') q = q.forUpdate();
  await q.executeTakeFirst();
}

/**
 * The slash requests (read before the closing transaction) still to apply, re-read under the
 * lock: none withdrawn by a reversal and none applied by another close meanwhile.
 *
 * @example
 * await lockSlashCursor(trx);
 * pre.slashRequests = await stillPending(trx, pre.slashRequests);
 */
export async function stillPending<R extends { id: number }>(
  trx: Transaction<Database>,
  requests: readonly R[],
): Promise<R[]> {
  const pending = new Set<number>();
  // In chunks: SQLite's bound-parameter limit.
  for (let i = 0; i < requests.length; i += 500) {
    const rows = await trx
      .selectFrom('slashes')
      .select('id')
      .where(
        'id',
        'in',
        requests.slice(i, i + 500).map((r) => r.id),
      )
      .where('applied_epoch', 'is', null)
      .where(notWithdrawn)
      .execute();
    for (const r of rows) pending.add(Number(r.id));
  }
  return requests.filter((r) => pending.has(r.id));
}
