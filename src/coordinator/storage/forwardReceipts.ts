/**
 * Which of a reader's posted receipts (`POST /v1/storage/receipts`, unauthenticated) are worth
 * forwarding to the servers they name (docs/storage.md, "Limits and abuse"). Each forwarded
 * receipt makes its server send a `store.redeem` on its session, so junk forwarded in bulk would
 * get an honest server rate-limited and disconnected. Only receipts that would be paid now go:
 * signed by their reader, above what was redeemed and within what the relay counted (the same
 * checks as redemption, src/storage/receipts.ts); one per (reader, server, object), the highest;
 * at most MAX_FORWARDED_PER_SERVER per server per request.
 */
import type { Kysely } from 'kysely';
import type { Address, Hex } from 'viem';
import { type RetrievalReceiptWire, receiptFromWire } from '../../protocol/storageMessages.ts';
import { receiptKey, verifyReceipt } from '../../storage/receipts.ts';
import type { StorageDatabase } from './storageTables.ts';

/** Most receipts forwarded to one server from one request (one per object it served the reader). */
export const MAX_FORWARDED_PER_SERVER = 16;

/**
 * @example
 * for (const r of await receiptsToForward({ db, chainId, receipts })) session(r.server)?.send({ type: 'store.receipt', receipt: r });
 */
export async function receiptsToForward(args: {
  db: Kysely<StorageDatabase>;
  chainId: number;
  receipts: RetrievalReceiptWire[];
  perServer?: number;
}): Promise<RetrievalReceiptWire[]> {
  const perServer = args.perServer ?? MAX_FORWARDED_PER_SERVER;
  const highest = new Map<string, RetrievalReceiptWire>();
  for (const r of args.receipts) {
    const key = receiptKey({ ...r, objectId: r.objectId as Hex });
    const had = highest.get(key);
    if (!had || BigInt(r.cumulativeBytes) > BigInt(had.cumulativeBytes)) highest.set(key, r);
  }
  const counted = new Map<string, number>();
  const out: RetrievalReceiptWire[] = [];
  for (const r of highest.values()) {
    const server = r.server.toLowerCase();
    if ((counted.get(server) ?? 0) >= perServer) continue;
    const row = await args.db
      .selectFrom('storage_receipts')
      .select(['served_bytes', 'redeemed_bytes'])
      .where('reader', '=', r.reader.toLowerCase())
      .where('server', '=', server)
      .where('object_id', '=', r.objectId.slice(2).toLowerCase())
      .executeTakeFirst();
    if (!row) continue;
    const v = await verifyReceipt({
      chainId: args.chainId,
      receipt: receiptFromWire(r),
      server: server as Address,
      servedBytes: BigInt(row.served_bytes),
      lastAccepted: BigInt(row.redeemed_bytes),
    });
    if (!v.ok) continue;
    counted.set(server, (counted.get(server) ?? 0) + 1);
    out.push(r);
  }
  return out;
}
