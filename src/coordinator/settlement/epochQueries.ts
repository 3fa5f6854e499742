/**
 * Reads of the `epochs` table the HTTP API serves: the epoch list and the recent epochs whose
 * rewards tree a claim may prove against.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Stored epochs, newest first (at most `limit`).
 *
 * @example const rows = await listEpochs(db, 200);
 */
export async function listEpochs(db: Kysely<Database>, limit: number) {
  return db.selectFrom('epochs').selectAll().orderBy('epoch', 'desc').limit(limit).execute();
}

/**
 * The newest epochs that have a signed rewards tree (`signed`, `submitted` or `settled`), newest
 * first (at most `limit`), with their payload and tree.
 *
 * @example const rows = await listEpochsWithTree(db, 8);
 */
export async function listEpochsWithTree(db: Kysely<Database>, limit: number) {
  return db
    .selectFrom('epochs')
    .select(['epoch', 'status', 'payload', 'tree'])
    .where('status', 'in', ['signed', 'submitted', 'settled'])
    .orderBy('epoch', 'desc')
    .limit(limit)
    .execute();
}
