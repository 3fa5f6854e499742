/**
 * The lock that makes an epoch's close and the pricing of charges agree (docs/validators.md "Unit
 * price"). A charge is priced at the base price of the first epoch not yet closed; a validator
 * accepts that price only for a result that came before the epoch's recorded close (`closedAt`).
 * Until evidence version 10 the close time was taken before the close's chain reads and its
 * transaction, so a charge posted meanwhile (on another replica, or on this one while the close
 * read the chain) honestly read the epoch as open after its recorded close, and validators allowed
 * 60 s of slack for it.
 *
 * Now the close takes this lock first in its transaction and stamps `closedAt` under it
 * (settlement/closeEpoch.ts), and billing takes it, shared, before it reads which epoch is open
 * (createMarket.ts `onVerdict`): either the charge's transaction ended before the close
 * took the lock (then its result came before `closedAt`), or it reads the epoch closed. On
 * PostgreSQL the close holds `SELECT … FOR UPDATE` of one `market_meta` row and pricing `FOR KEY
 * SHARE` of it (pricing transactions never wait for each other, only for a close); SQLite runs
 * one transaction at a time on its one connection, so the stamp under the transaction suffices.
 */
import type { Transaction } from 'kysely';
import { dialectOf } from '../store/dialect.ts';
import type { Database } from '../store/schema.ts';

/** The `market_meta` row locked. */
export const EPOCH_CLOSE_LOCK_KEY = 'epoch_close';

async function ensureRow(trx: Transaction<Database>): Promise<void> {
  await trx
    .insertInto('market_meta')
    .values({ key: EPOCH_CLOSE_LOCK_KEY, value: '0' })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
}

/**
 * Locks the epoch close until the caller's transaction ends: the close's first statement, before
 * it stamps `closedAt`.
 *
 * @example
 * await db.transaction().execute(async (trx) => { await lockEpochClose(trx); const closedAt = clock(); … });
 */
export async function lockEpochClose(trx: Transaction<Database>): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  await ensureRow(trx);
  await trx
    .selectFrom('market_meta')
    .select('value')
    .where('key', '=', EPOCH_CLOSE_LOCK_KEY)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Holds the epoch close off until the caller's transaction ends (shared with other pricing
 * transactions): taken before reading which epoch is open, so a charge is never priced at an
 * epoch whose close is stamped before the charge's result came.
 *
 * @example
 * await holdEpochOpen(trx);
 * const { epoch, priceEpoch } = await epochAndPriceEpoch(trx);
 */
export async function holdEpochOpen(trx: Transaction<Database>): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  const lock = () =>
    trx
      .selectFrom('market_meta')
      .select('value')
      .where('key', '=', EPOCH_CLOSE_LOCK_KEY)
      .forKeyShare()
      .executeTakeFirst();
  if (await lock()) return;
  // The row is made by the first close or pricing transaction of a store.
  await ensureRow(trx);
  await lock();
}
