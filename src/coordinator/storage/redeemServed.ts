/**
 * A server's `store.redeem` (docs/storage.md, "Retrieval receipts"): its reader's receipt checked
 * and paid through the ledger (redeemReceipt.ts, storageLedger.ts `postRetrieval`), and every try
 * recorded in `storage_redemptions`. A read by someone other than the object's owner (a provider
 * reading a job's model, or a repairer reading its sources) is charged to the owner, with the
 * owner's signed put as the entry's evidence and why (`readFor`: `repair` when the reader was
 * ordered to repair a piece of the object, repairOrders.ts; `job-model` otherwise).
 */
import type { Kysely } from 'kysely';
import type { StoreRedeem } from '../../protocol/storageSession.ts';
import type { ReceiptVerdict } from '../../storage/receipts.ts';
import { redeemReceipt } from './redeemReceipt.ts';
import { repairReader } from './repairOrders.ts';
import { postRetrieval } from './storageLedger.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * @example const v = await redeemServed({ db, chainId, pricePerByte, epoch }, from, msg.receipt);
 */
export async function redeemServed(
  deps: {
    db: Kysely<StorageDatabase>;
    chainId: number;
    pricePerByte: bigint;
    epoch: number;
    now?: () => number;
  },
  from: string,
  receipt: StoreRedeem['receipt'],
): Promise<ReceiptVerdict & { amount: bigint }> {
  const { db, pricePerByte, epoch } = deps;
  const now = deps.now ?? Date.now;
  const objectId = receipt.objectId.slice(2).toLowerCase();
  const reader = receipt.reader.toLowerCase();
  const owner = await db
    .selectFrom('storage_objects')
    .select(['client', 'put_request'])
    .where('object_id', '=', objectId)
    .executeTakeFirst();
  const payer = owner?.client ?? reader;
  const forOwner =
    payer === reader
      ? {}
      : {
          readFor: (await repairReader(db, reader, objectId)) ? ('repair' as const) : ('job-model' as const),
          owner: owner?.put_request ? JSON.parse(owner.put_request) : undefined,
        };
  // Charged to an owner with no signed put (stored before 0028): no evidence it agreed, so not charged.
  const unsigned = payer !== reader && !owner?.put_request;
  const v: ReceiptVerdict & { amount: bigint } = unsigned
    ? { ok: false, reason: 'unsigned', amount: 0n }
    : await redeemReceipt({
        db,
        chainId: deps.chainId,
        server: from,
        receipt,
        pricePerByte,
        now,
        // Paid through the ledger with the redeemed count, in one transaction.
        post: (trx, paid) =>
          postRetrieval(trx, { receipt, pricePerByte, epoch, payer, ...forOwner, ...paid }, now()),
      });
  // Every redemption tried is kept, accepted or refused (the explorer and the tests read it).
  await db
    .insertInto('storage_redemptions')
    .values({
      reader,
      server: receipt.server.toLowerCase(),
      redeemer: from.toLowerCase(),
      object_id: objectId,
      cumulative_bytes: receipt.cumulativeBytes,
      ok: v.ok ? 1 : 0,
      reason: v.ok ? null : v.reason,
      amount: v.amount.toString(),
      created_at: now(),
    })
    .execute();
  return v;
}
