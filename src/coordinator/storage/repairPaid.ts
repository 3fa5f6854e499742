/**
 * Paying a repair (docs/storage.md, "Repair"): when the provider ordered to rebuild a lost piece
 * says it keeps it, and its order fetched the K sources it needed, it is paid `repairFee` from the
 * object's hold before the piece counts as healthy (storageLedger.ts `payRepair`, one entry per
 * order). Paid first, so a crash between the two never marks a piece healthy twice for pay: a
 * holder reconnecting with the piece makes it healthy without a second entry (the ref is the order's).
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.ts';
import type { StorageOrder } from './orderProof.ts';
import { payRepair } from './storageLedger.ts';
import type { StorageMoney } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * Pays the repairer of `order` when it was a repair still open on its piece; returns the fee (0
 * for a put, or when the hold had too little left).
 *
 * @example await paidRepair({ db, money, now, log, pricePerByte }, orderId, order);
 */
export async function paidRepair(
  deps: {
    db: Kysely<StorageDatabase>;
    money?: StorageMoney | undefined;
    now: () => number;
    log: Logger;
    pricePerByte: bigint;
  },
  orderId: string,
  order: StorageOrder,
): Promise<bigint> {
  const { db } = deps;
  const piece = await db
    .selectFrom('storage_pieces')
    .selectAll()
    .where('object_id', '=', order.objectId)
    .where('segment', '=', order.segment)
    .where('idx', '=', order.idx)
    .where('order_id', '=', orderId)
    .where('status', '=', 'repairing')
    .executeTakeFirst();
  if (!piece) return 0n;
  const o = await db
    .selectFrom('storage_objects')
    .selectAll()
    .where('object_id', '=', order.objectId)
    .where('status', 'in', ['placing', 'stored'])
    .executeTakeFirst();
  if (!o) return 0n;
  const epoch = (await deps.money?.epochNow())?.epoch ?? 0;
  const fee = await payRepair(
    db,
    o,
    {
      orderId,
      segment: piece.segment,
      idx: piece.idx,
      root: piece.root,
      repairer: order.holder,
      pieceBytes: piece.piece_bytes,
      pricePerByte: deps.pricePerByte,
    },
    epoch,
    deps.now(),
  );
  if (fee === 0n)
    deps.log.warn({ objectId: o.object_id, idx: piece.idx }, 'repair not paid: the hold has too little left');
  else
    deps.log.info(
      { objectId: o.object_id, idx: piece.idx, repairer: order.holder, fee: String(fee) },
      'repair paid',
    );
  return fee;
}
