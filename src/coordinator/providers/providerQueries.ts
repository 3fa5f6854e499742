/**
 * Reads of the `providers` table (written by the work loop's sessions) that the HTTP API serves:
 * the provider list, the explorer's capacity scan and an existence check.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Known providers, first seen first (at most `limit`).
 *
 * @example const rows = await listProviders(db, 10_000);
 */
export async function listProviders(db: Kysely<Database>, limit: number) {
  return db.selectFrom('providers').selectAll().orderBy('first_seen').limit(limit).execute();
}

/**
 * Every provider row in store order (at most `limit`), for aggregates where order does not matter.
 *
 * @example const rows = await scanProviders(db, 100_000);
 */
export async function scanProviders(db: Kysely<Database>, limit: number) {
  return db.selectFrom('providers').selectAll().limit(limit).execute();
}

/**
 * Whether a provider (lowercase address) has ever connected.
 *
 * @example if (!(await providerExists(db, address))) throw notFound();
 */
export async function providerExists(db: Kysely<Database>, address: string): Promise<boolean> {
  const row = await db
    .selectFrom('providers')
    .select('address')
    .where('address', '=', address)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * One provider row (lowercase address), or undefined.
 *
 * @example const row = await findProvider(db, address);
 */
export async function findProvider(db: Kysely<Database>, address: string) {
  return db.selectFrom('providers').selectAll().where('address', '=', address).executeTakeFirst();
}
