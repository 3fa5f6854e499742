import type { Kysely, Transaction } from 'kysely';
/**
 * Runs `body` in `given` when the caller is already inside a transaction (the market's escrow
 * admission hands its own to the store it admits: escrowLock.ts), in a new one otherwise. Opening
 * a second transaction while one is held would wait forever on a one-connection store.
 *
 * @example
 * const insert = (trx?: Transaction<Database>) => inTransaction(db, trx, async (t) => { … });
 */
export function inTransaction<DB, T>(
  db: Kysely<DB>,
  given: Transaction<DB> | undefined,
  body: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  return given ? body(given) : db.transaction().execute(body);
}
