/**
 * Pay as you go on the relay (docs/storage.md, "What a read moves and pays"): the relay's
 * counterpart of a direct server's rule. A reader that a server has served more than one piece's
 * worth of an object that no receipt of its covers gets no further relayed piece of that object
 * from that server (`PLX_STORAGE_RECEIPT_REQUIRED`, 402) until it shows one: at most one piece
 * unpaid per server before the next (one more than a direct server allows: a hedged piece that
 * reached the reader after it had its K is counted and never receipted, and must not lock an
 * honest reader out of that holder).
 * Before, the relay never asked, so an owner that never signed a receipt read its object through
 * the relay as often as it liked and the holders were paid nothing (security review, F4).
 *
 * What counts as paid: the most the server redeemed, or the highest receipt of that reader for
 * that server and object the coordinator has seen (in the relay request's `x-plexus-receipt`, or
 * posted to `POST /v1/storage/receipts`), signature checked by the route that took it. A receipt
 * seen here is forwarded to its server once (it redeems it, see `forwardReceipts.ts`), so what
 * the relay took as paid reaches the server even if the reader never posts it. Bytes of this
 * reader's direct tickets at that server still open or just served (a direct piece that failed or
 * came with bad bytes falls back to the relay, from the same holder) are not held against it.
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import { recoverSigner } from '../../protocol/eip712.ts';
import {
  type RetrievalReceiptWire,
  receiptFromWire,
  retrievalReceiptHash,
  retrievalReceiptSchema,
} from '../../protocol/storageMessages.ts';
import { TICKET_GRACE_MS } from './directTickets.ts';
import type { StorageDatabase } from './storageTables.ts';

/** Receipts remembered (per reader, server and object, the highest), oldest forgotten past this. */
const MAX_SEEN = 50_000;

/**
 * @example
 * const owed = createRelayOwed({ db, now });
 * owed.see(receipt); // its signature checked by the caller
 * await owed.assertPaid(reader, server, objectId, pieceBytes); // throws PLX_STORAGE_RECEIPT_REQUIRED
 */
export function createRelayOwed(deps: { db: Kysely<StorageDatabase>; now: () => number }) {
  const { db, now } = deps;
  /** `reader/server/object` → the highest receipt seen, and the cumulative already forwarded. */
  const seen = new Map<string, { receipt: RetrievalReceiptWire; forwarded: bigint }>();
  const keyOf = (reader: string, server: string, objectId: string) =>
    `${reader.toLowerCase()}/${server.toLowerCase()}/${objectId.replace(/^0x/, '').toLowerCase()}`;

  return {
    /** Remembers a receipt whose signature the caller checked (a higher one replaces a lower one). */
    see(receipt: RetrievalReceiptWire, forwarded = false): void {
      const key = keyOf(receipt.reader, receipt.server, receipt.objectId);
      const had = seen.get(key);
      const n = BigInt(receipt.cumulativeBytes);
      if (had && BigInt(had.receipt.cumulativeBytes) >= n) {
        if (forwarded && had.forwarded < n) had.forwarded = n;
        return;
      }
      seen.delete(key);
      seen.set(key, { receipt, forwarded: forwarded ? n : (had?.forwarded ?? 0n) });
      if (seen.size > MAX_SEEN) seen.delete(seen.keys().next().value as string);
    },
    /** The highest receipts seen of `reader` for `objectId`, one per server (a read grant resumes from them). */
    seenFor(reader: string, objectId: string): RetrievalReceiptWire[] {
      const tail = `/${objectId.replace(/^0x/, '').toLowerCase()}`;
      const head = `${reader.toLowerCase()}/`;
      return [...seen.entries()]
        .filter(([k]) => k.startsWith(head) && k.endsWith(tail))
        .map(([, v]) => v.receipt);
    },
    /**
     * Throws PLX_STORAGE_RECEIPT_REQUIRED when `server` has served `reader` more than `pieceBytes` of `objectId`
     * that nothing covers (redeemed, a receipt seen, an open direct ticket). Returns a receipt seen
     * above what was redeemed and not yet forwarded to the server (the caller forwards it).
     */
    async assertPaid(
      reader: string,
      server: string,
      objectId: string,
      /** The piece asked for: one piece's worth may stay unpaid (the one before it). */
      pieceBytes: number,
      /** The receipt the request carries (its signature, reader and object checked by the caller). */
      shown?: RetrievalReceiptWire,
    ): Promise<RetrievalReceiptWire | undefined> {
      const row = await db
        .selectFrom('storage_receipts')
        .select(['served_bytes', 'redeemed_bytes'])
        .where('reader', '=', reader)
        .where('server', '=', server)
        .where('object_id', '=', objectId)
        .executeTakeFirst();
      if (!row) return undefined;
      const served = BigInt(row.served_bytes);
      const redeemed = BigInt(row.redeemed_bytes);
      const key = keyOf(reader, server, objectId);
      // A receipt above what was counted is not one the server could redeem: not taken as paid.
      const worth = (r: RetrievalReceiptWire | undefined) =>
        r && r.server.toLowerCase() === server && BigInt(r.cumulativeBytes) <= served
          ? BigInt(r.cumulativeBytes)
          : 0n;
      if (shown && worth(shown) > worth(seen.get(key)?.receipt)) {
        const had = seen.get(key);
        seen.delete(key);
        seen.set(key, { receipt: shown, forwarded: had?.forwarded ?? 0n });
        if (seen.size > MAX_SEEN) seen.delete(seen.keys().next().value as string);
      }
      const s = seen.get(key);
      const best = worth(s?.receipt);
      const paid = best > redeemed ? best : redeemed;
      const tickets = await db
        .selectFrom('storage_tickets')
        .select((eb) => eb.fn.sum<string | number | null>('bytes').as('bytes'))
        .where('reader', '=', reader)
        .where('server', '=', server)
        .where('object_id', '=', objectId)
        .where('state', '!=', 'returned')
        .where('expires_at', '>=', now() - TICKET_GRACE_MS)
        .executeTakeFirst();
      const owed = served - paid - BigInt(tickets?.bytes ?? 0);
      // Beyond one piece unpaid, the next waits (a late hedge the reader never used is one piece).
      const due = paid + owed - BigInt(pieceBytes);
      if (owed > BigInt(pieceBytes))
        throw new PlexusError(
          'PLX_STORAGE_RECEIPT_REQUIRED',
          `${server} served you ${owed} bytes of this object through the relay that no receipt covers; send your latest receipt for it (cumulative >= ${due}) in x-plexus-receipt`,
          { details: { server, owedBytes: owed.toString(), cumulativeAtLeast: due.toString() } },
        );
      if (s && best > redeemed && best > s.forwarded) {
        s.forwarded = best;
        return s.receipt;
      }
      return undefined;
    },
  };
}

/**
 * The receipt a relay request carries in `x-plexus-receipt`, when it parses and is signed by the
 * reader it names; anything else is no receipt (the relay then asks for one if it must).
 *
 * @example const receipt = await receiptFromHeader(req.headers['x-plexus-receipt'], chainId);
 */
export async function receiptFromHeader(
  header: string | string[] | undefined,
  chainId: number,
): Promise<RetrievalReceiptWire | undefined> {
  if (typeof header !== 'string' || header.length > 2048) return undefined;
  let wire: RetrievalReceiptWire;
  try {
    wire = retrievalReceiptSchema.parse(JSON.parse(header));
  } catch {
    return undefined;
  }
  const { message, signature } = receiptFromWire(wire);
  const signer = await recoverSigner(retrievalReceiptHash(chainId, message), signature).catch(() => '');
  return signer.toLowerCase() === wire.reader.toLowerCase() ? wire : undefined;
}
