/**
 * Repair orders in the store (docs/storage.md, "Repair"; migration 0028): the in-memory order book
 * (orderProof.ts) ends with the process, so each repair order is also written here with the source
 * pieces its holder fetched. A repair whose `store.stored` arrives after a coordinator restart, or
 * whose holder reconnects with the rebuilt piece, is then paid from this record, once (the ledger
 * entry's ref is the order's); the source reads of a repair are told apart from other reads of the
 * object by it (their receipts are charged to the object's owner, `readFor: repair`).
 */
import type { Kysely } from 'kysely';
import type { StorageDatabase } from './storageTables.ts';

export type RepairOrderRow = StorageDatabase['storage_repair_orders'];

/**
 * @example await recordRepairOrder(db, { order_id, object_id, segment, idx, root, holder, need: 4, fetched: '[]', created_at, expires_at });
 */
export async function recordRepairOrder(db: Kysely<StorageDatabase>, row: RepairOrderRow): Promise<void> {
  await db.insertInto('storage_repair_orders').values(row).execute();
}

/**
 * Records the source roots an order's holder has fetched so far (the relay calls it per piece).
 *
 * @example await recordFetched(db, orderId, ['0xab…', '0xcd…']);
 */
export async function recordFetched(
  db: Kysely<StorageDatabase>,
  orderId: string,
  roots: readonly string[],
): Promise<void> {
  await db
    .updateTable('storage_repair_orders')
    .set({ fetched: JSON.stringify([...roots]) })
    .where('order_id', '=', orderId)
    .execute();
}

/**
 * The stored order `orderId` of `holder`, with how many distinct sources it fetched.
 *
 * @example const o = await repairOrderOf(db, orderId, holder); if (o && o.fetchedCount >= o.need) pay();
 */
export async function repairOrderOf(
  db: Kysely<StorageDatabase>,
  orderId: string,
  holder: string,
): Promise<(RepairOrderRow & { fetchedCount: number }) | undefined> {
  const row = await db
    .selectFrom('storage_repair_orders')
    .selectAll()
    .where('order_id', '=', orderId)
    .where('holder', '=', holder.toLowerCase())
    .executeTakeFirst();
  if (!row) return undefined;
  let fetched: unknown;
  try {
    fetched = JSON.parse(row.fetched);
  } catch {
    fetched = [];
  }
  return { ...row, fetchedCount: Array.isArray(fetched) ? new Set(fetched.map(String)).size : 0 };
}

/**
 * Whether `reader` was ever ordered to repair a piece of `objectId` (its reads of the object are
 * a repair's source reads).
 *
 * @example const readFor = (await repairReader(db, reader, objectId)) ? 'repair' : 'job-model';
 */
export async function repairReader(
  db: Kysely<StorageDatabase>,
  reader: string,
  objectId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('storage_repair_orders')
    .select('order_id')
    .where('holder', '=', reader.toLowerCase())
    .where('object_id', '=', objectId.toLowerCase())
    .executeTakeFirst();
  return row !== undefined;
}
