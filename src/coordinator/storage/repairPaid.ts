/**
 * Paying a repair (docs/storage.md, "Repair"): when the provider ordered to rebuild a lost piece
 * says it keeps it, and its order fetched the K sources it needed, it is paid `repairFee` from the
 * object's hold before the piece counts as healthy (storageLedger.ts `payRepair`, one entry per
 * order). Paid first, so a crash between the two never marks a piece healthy twice for pay; and
 * from the order kept in the store (repairOrders.ts) when this process no longer has it in memory
 * (a restart), so a repair finished around a restart is paid too, once (the ref is the order's).
 *
 * The entry carries its evidence (docs/storage.md, "Evidence"): the fault that lost the piece
 * (`lost`) and the client's signed put of the object (`owner`), checked by validators.
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.ts';
import { repairOrderOf } from './repairOrders.ts';
import { payRepair } from './storageLedger.ts';
import type { StorageMoney } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

type Deps = {
  db: Kysely<StorageDatabase>;
  money?: StorageMoney | undefined;
  now: () => number;
  log: Logger;
  pricePerByte: bigint;
};

/** What a repair order names: the piece and who rebuilt it. */
type RepairOf = { objectId: string; segment: number; idx: number; holder: string };

/**
 * The evidence that a piece was lost: its latest fault (the holder, window, reason, and the
 * challenge and answer when there were any), as the fault recorded it.
 *
 * @example const lost = await lossOf(db, objectId, 0, 3, root);
 */
export async function lossOf(
  db: Kysely<StorageDatabase>,
  objectId: string,
  segment: number,
  idx: number,
  root: string,
): Promise<Record<string, unknown> | undefined> {
  const f = await db
    .selectFrom('storage_faults')
    .select(['provider', 'evidence'])
    .where('object_id', '=', objectId)
    .where('segment', '=', segment)
    .where('idx', '=', idx)
    .where('root', '=', root)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (!f) return undefined;
  const storage = (JSON.parse(f.evidence) as { storage?: Record<string, unknown> }).storage ?? {};
  return { ...storage, provider: f.provider };
}

/**
 * Pays the repairer of `order` when it was a repair still open on its piece; returns the fee (0
 * for a put, or when the hold had too little left).
 *
 * @example await paidRepair({ db, money, now, log, pricePerByte }, orderId, order);
 */
export async function paidRepair(deps: Deps, orderId: string, order: RepairOf): Promise<bigint> {
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
      lost: await lossOf(db, o.object_id, piece.segment, piece.idx, piece.root),
      owner: o.put_request ? JSON.parse(o.put_request) : undefined,
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

/**
 * A repair this process no longer holds in memory (it restarted), from the order kept in the
 * store: paid when `holder` is the order's and fetched its K sources through it. Returns the
 * repaired piece when the order counts (it may then be marked healthy); undefined when there is no
 * such order or it fetched too little.
 *
 * @example if (await storedRepairDone(deps, orderId, from)) await pieceStored(objectId, segment, idx);
 */
export async function storedRepairDone(
  deps: Deps,
  orderId: string,
  holder: string,
): Promise<RepairOf | undefined> {
  const row = await repairOrderOf(deps.db, orderId, holder);
  if (!row || row.fetchedCount < row.need) return undefined;
  const order = { objectId: row.object_id, segment: row.segment, idx: row.idx, holder: row.holder };
  await paidRepair(deps, orderId, order);
  return order;
}
