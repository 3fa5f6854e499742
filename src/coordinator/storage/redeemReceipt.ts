/**
 * Redemption of retrieval receipts (issue 19, paid bandwidth): a server hands in the latest
 * cumulative receipt a reader signed for it; it pays for the bytes above what was already redeemed
 * and never above what the coordinator's relay itself counted this server serving this reader of
 * this object. Forged, replayed, inflated and other servers' receipts are refused
 * (src/storage/receipts.ts has the rules); the redeemed count only ever grows, in one conditional
 * update, so two concurrent redemptions of one receipt pay once.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Address } from 'viem';
import type { RetrievalReceiptWire } from '../../protocol/storageMessages.ts';
import { receiptFromWire } from '../../protocol/storageMessages.ts';
import { type ReceiptVerdict, verifyReceipt } from '../../storage/receipts.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * Verifies and records one receipt for `server`; returns the verdict (bytes newly payable, or why
 * it pays nothing) and the amount at `pricePerByte`.
 *
 * @example
 * const v = await redeemReceipt({ db, chainId, server, receipt, pricePerByte: 1n, now: Date.now });
 */
export async function redeemReceipt(args: {
  db: Kysely<StorageDatabase>;
  chainId: number;
  server: string;
  receipt: RetrievalReceiptWire;
  pricePerByte: bigint;
  now: () => number;
  /**
   * Posts the accepted amount to the ledger in the same transaction as the redeemed count moves
   * (storageLedger.ts `postRetrieval`), so a receipt is paid exactly once even across a crash.
   */
  post?: (trx: Transaction<StorageDatabase>, paid: { fromBytes: bigint; amount: bigint }) => Promise<void>;
}): Promise<ReceiptVerdict & { amount: bigint }> {
  const receipt = receiptFromWire(args.receipt);
  const m = receipt.message;
  const row = await args.db
    .selectFrom('storage_receipts')
    .select(['served_bytes', 'redeemed_bytes'])
    .where('reader', '=', m.reader.toLowerCase())
    .where('server', '=', m.server.toLowerCase())
    .where('object_id', '=', m.objectId.slice(2).toLowerCase())
    .executeTakeFirst();
  const lastAccepted = BigInt(row?.redeemed_bytes ?? '0');
  const verdict = await verifyReceipt({
    chainId: args.chainId,
    receipt,
    server: args.server as Address,
    servedBytes: BigInt(row?.served_bytes ?? '0'),
    lastAccepted,
  });
  if (!verdict.ok || !row)
    return { ...(verdict.ok ? { ok: false, reason: 'inflated' } : verdict), amount: 0n };
  const amount = verdict.payableBytes * args.pricePerByte;
  const done = await args.db.transaction().execute(async (trx) => {
    const u = await trx
      .updateTable('storage_receipts')
      .set({ redeemed_bytes: m.cumulativeBytes.toString(), updated_at: args.now() })
      .where('reader', '=', m.reader.toLowerCase())
      .where('server', '=', m.server.toLowerCase())
      .where('object_id', '=', m.objectId.slice(2).toLowerCase())
      .where('redeemed_bytes', '=', row.redeemed_bytes)
      .executeTakeFirst();
    if (Number(u.numUpdatedRows) !== 1) return false;
    await args.post?.(trx, { fromBytes: lastAccepted, amount });
    return true;
  });
  if (!done) return { ok: false, reason: 'replayed', amount: 0n };
  return { ...verdict, amount };
}
