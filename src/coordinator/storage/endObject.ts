/**
 * Ending a stored object (`store rm`, or a put not placed by its deadline): split from
 * createStorageNetwork.ts, which passes its state in.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { voidUnredeemed } from './countServed.ts';
import { dropPiece } from './dropPiece.ts';
import type { OrderBook } from './orderProof.ts';
import { settleRemoval } from './storageLedger.ts';
import type { StorageMoney, StorageSession } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * @example const endObject = createEnder({ db, money, now, orders, sessions, staging }); await endObject(row, 'removed');
 */
export function createEnder(deps: {
  db: Kysely<StorageDatabase>;
  money?: StorageMoney | undefined;
  now: () => number;
  orders: OrderBook;
  sessions: Map<string, StorageSession>;
  staging: string;
}) {
  const { db, now, orders, sessions, staging } = deps;
  /**
   * Ends an object (`store rm`, or a put not placed by its deadline): pieces dropped on their
   * holders, open orders ended, staging deleted; holders paid for proven epochs not closed yet and
   * the unused term released to the client (returned).
   */
  return async function endObject(
    o: StorageDatabase['storage_objects'],
    status: 'removed' | 'failed',
  ): Promise<bigint> {
    const objectId = o.object_id;
    const pieces = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('object_id', '=', objectId)
      .execute();
    const w = await deps.money?.epochNow();
    const refund = await db.transaction().execute(async (trx) => {
      // Only a live object ends, once: a put failing by its deadline while its owner removes it
      // must not turn `removed` into `failed` (nor pay and release its term twice).
      const ended = await trx
        .updateTable('storage_objects')
        .set({ status, updated_at: now() })
        .where('object_id', '=', objectId)
        .where('created_at', '=', o.created_at)
        .where('status', 'not in', ['removed', 'failed'])
        .executeTakeFirst();
      if (Number(ended.numUpdatedRows) === 0) return undefined;
      await voidUnredeemed(trx, objectId, now());
      await trx
        .updateTable('storage_pieces')
        .set({ status: 'dropped', order_id: null, updated_at: now() })
        .where('object_id', '=', objectId)
        .execute();
      if (!w) return 0n;
      const windows = [...(w.unclosed ? [w.unclosed] : []), { epoch: w.epoch, from: w.from, to: now() }];
      return settleRemoval(trx, o, windows, w.epoch, now());
    });
    if (refund === undefined) return 0n;
    for (const p of pieces) {
      orders.drop(p.order_id);
      if (p.holder) await dropPiece(db, sessions.get(p.holder), p.holder, p.root);
    }
    await rm(join(staging, objectId), { recursive: true, force: true });
    return refund;
  };
}
