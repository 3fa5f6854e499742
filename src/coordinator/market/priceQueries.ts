/**
 * Reads of the `prices` table the HTTP API serves: a resource class's measured price history.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Past epochs of one resource class that have a measured utilization, newest first (at most
 * `limit`).
 *
 * @example const hist = await listPriceHistory(db, 'cpu', 200);
 */
export async function listPriceHistory(db: Kysely<Database>, cls: string, limit: number) {
  return db
    .selectFrom('prices')
    .select(['epoch', 'base_price', 'utilization'])
    .where('class', '=', cls)
    .where('utilization', 'is not', null)
    .orderBy('epoch', 'desc')
    .limit(limit)
    .execute();
}
