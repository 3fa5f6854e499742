/**
 * The relay's own count of bytes each server served each reader of each object (table
 * `storage_receipts`): receipts are checked against it (redeemReceipt.ts, forwardReceipts.ts).
 */
import { type Kysely, sql } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * @example await countServed(db, Date.now(), reader, server, objectId, piece.length);
 */
export async function countServed(
  db: Kysely<StorageDatabase>,
  at: number,
  reader: string,
  server: string,
  objectId: string,
  bytes: number,
): Promise<void> {
  await db
    .insertInto('storage_receipts')
    .values({
      reader,
      server,
      object_id: objectId,
      served_bytes: String(bytes),
      redeemed_bytes: '0',
      updated_at: at,
    })
    .onConflict((oc) =>
      oc.columns(['reader', 'server', 'object_id']).doUpdateSet((eb) => ({
        served_bytes: sql<string>`cast(cast(${eb.ref('storage_receipts.served_bytes')} as bigint) + cast(${Math.floor(bytes)} as bigint) as text)`,
        updated_at: at,
      })),
    )
    .execute();
}

/**
 * Gives back bytes counted by `countServed` for a relay that did not deliver them; never below
 * what was redeemed already (an object voided meanwhile has served = redeemed).
 *
 * @example await uncountServed(db, Date.now(), reader, server, objectId, piece.length);
 */
export async function uncountServed(
  db: Kysely<StorageDatabase>,
  at: number,
  reader: string,
  server: string,
  objectId: string,
  bytes: number,
): Promise<void> {
  const served = sql<number>`cast(served_bytes as bigint)`;
  const redeemed = sql<number>`cast(redeemed_bytes as bigint)`;
  // Bound as an integer: a JS number binds as a REAL in SQLite, and '0.0' is no count.
  const n = sql<number>`cast(${Math.floor(bytes)} as bigint)`;
  await db
    .updateTable('storage_receipts')
    .set({
      served_bytes: sql<string>`cast(case when ${served} - ${n} < ${redeemed} then ${redeemed} else ${served} - ${n} end as text)`,
      updated_at: at,
    })
    .where('reader', '=', reader)
    .where('server', '=', server)
    .where('object_id', '=', objectId)
    .execute();
  // A count back at nothing leaves no row (readers that give up would otherwise leave zeros).
  await db
    .deleteFrom('storage_receipts')
    .where('reader', '=', reader)
    .where('server', '=', server)
    .where('object_id', '=', objectId)
    .where('served_bytes', '=', '0')
    .where('redeemed_bytes', '=', '0')
    .execute();
}

/**
 * Voids what the relay counted for an object but nobody redeemed yet (served back to redeemed),
 * when the object ends or is put anew: those reads are charged to the object's owner when
 * redeemed, and a later owner of the same content id must not pay for reads of an earlier
 * incarnation (security review: receipts kept past `store rm` and redeemed once a victim stored
 * the same file). Later reads count up from there; every receipt stays cumulative.
 *
 * @example await voidUnredeemed(trx, objectId, Date.now());
 */
export async function voidUnredeemed(
  db: Kysely<StorageDatabase>,
  objectId: string,
  at: number,
): Promise<void> {
  await db
    .updateTable('storage_receipts')
    .set((eb) => ({ served_bytes: eb.ref('redeemed_bytes'), updated_at: at }))
    .where('object_id', '=', objectId)
    .execute();
}

/**
 * What the relay served `reader` of an object so far, from every server (since it last ended or
 * was put anew: `voidUnredeemed` sets served back to redeemed).
 *
 * @example if ((await servedTo(db, reader, objectId)) + pieceBytes > limit) refuse();
 */
export async function servedTo(
  db: Kysely<StorageDatabase>,
  reader: string,
  objectId: string,
): Promise<number> {
  const rows = await db
    .selectFrom('storage_receipts')
    .select('served_bytes')
    .where('reader', '=', reader)
    .where('object_id', '=', objectId)
    .execute();
  return rows.reduce((a, r) => a + Number(r.served_bytes), 0);
}

/**
 * Refuses a piece (or a read) that would take a reader other than the owner past its limit.
 *
 * @example await assertWithinReadLimit(db, reader, objectId, limit, pieceBytes);
 */
export async function assertWithinReadLimit(
  db: Kysely<StorageDatabase>,
  reader: string,
  objectId: string,
  limitBytes: number,
  moreBytes: number,
): Promise<void> {
  const served = await servedTo(db, reader, objectId);
  if (served + moreBytes > limitBytes)
    throw new PlexusError(
      'PLX_STORAGE_READ_LIMIT',
      `this reader was served ${served} bytes of the object; its owner pays for at most ${limitBytes}`,
      { details: { servedBytes: served, limitBytes } },
    );
}
