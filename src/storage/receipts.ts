/**
 * Retrieval receipts (issue 19, paid bandwidth): a reader signs, for each server it fetches pieces
 * from, a cumulative count of the bytes that server has served it for one object
 * (src/protocol/storageMessages.ts). Servers redeem receipts each epoch; whoever redeems them (the
 * coordinator's ledger, later) keeps the highest cumulative count accepted per (reader, server,
 * object) and pays only the increase.
 *
 * A receipt is refused when it is
 * - for another server: the `server` field is not the one redeeming it;
 * - forged: the signature does not recover to the `reader` it names (or to nothing);
 * - replayed: its cumulative count is not above the last accepted one (an old receipt, or the
 *   same one twice);
 * - inflated: its count is above what the server itself says it served that reader of that
 *   object, so a server and a reader colluding cannot mint bandwidth the server did not log.
 */
import { createHash } from 'node:crypto';
import { type Address, type Hex, isAddress } from 'viem';
import { recoverSigner } from '../protocol/eip712.ts';
import { type RetrievalReceiptMessage, retrievalReceiptHash } from '../protocol/storageMessages.ts';

/** A receipt and the reader's signature over it. */
export type SignedReceipt = { message: RetrievalReceiptMessage; signature: Hex };

/** Why a receipt was refused. */
/** `unsigned`: charged to an owner whose object has no signed put (stored before 0028, coordinator/storage/unsignedObjects.ts). */
export type ReceiptRefusal = 'wrong-server' | 'forged' | 'replayed' | 'inflated' | 'unsigned';

/** The outcome of checking one receipt: the bytes it newly pays for, or why it pays nothing. */
export type ReceiptVerdict = { ok: true; payableBytes: bigint } | { ok: false; reason: ReceiptRefusal };

/**
 * The (reader, server, object) a cumulative count belongs to, addresses lowercased.
 *
 * @example receiptKey(receipt.message) // '0xreader…/0xserver…/0xobject…'
 */
export function receiptKey(m: Pick<RetrievalReceiptMessage, 'reader' | 'server' | 'objectId'>): string {
  return `${m.reader.toLowerCase()}/${m.server.toLowerCase()}/${m.objectId.toLowerCase()}`;
}

/**
 * Checks one receipt for redemption by `server`. `servedBytes` is the server's own count of what
 * it served this reader of this object; `lastAccepted` the highest cumulative count already paid
 * (0 when none). Cheap checks come first; the signature is recovered (natively where possible)
 * only for a receipt that would pay.
 *
 * @example
 * const v = await verifyReceipt({ chainId, receipt, server, servedBytes: 3_000_000n, lastAccepted: 1_000_000n });
 * if (v.ok) pay(v.payableBytes); // 2,000,000 when the receipt says 3,000,000
 */
export async function verifyReceipt(args: {
  chainId: number;
  receipt: SignedReceipt;
  server: Address;
  servedBytes: bigint;
  lastAccepted: bigint;
}): Promise<ReceiptVerdict> {
  const { message, signature } = args.receipt;
  if (message.server.toLowerCase() !== args.server.toLowerCase())
    return { ok: false, reason: 'wrong-server' };
  if (message.cumulativeBytes <= args.lastAccepted) return { ok: false, reason: 'replayed' };
  if (message.cumulativeBytes > args.servedBytes) return { ok: false, reason: 'inflated' };
  if (!isAddress(message.reader, { strict: false })) return { ok: false, reason: 'forged' };
  let signer: Address;
  try {
    signer = await recoverSigner(retrievalReceiptHash(args.chainId, message), signature);
  } catch {
    return { ok: false, reason: 'forged' };
  }
  if (signer.toLowerCase() !== message.reader.toLowerCase()) return { ok: false, reason: 'forged' };
  return { ok: true, payableBytes: message.cumulativeBytes - args.lastAccepted };
}

/**
 * The redeeming side's memory of accepted receipts: the highest cumulative count per (reader,
 * server, object). In memory here; the ledger will keep the same numbers in its store.
 *
 * @example
 * const book = new ReceiptBook(31337);
 * const v = await book.redeem(receipt, serverAddress, servedBytes);
 */
export class ReceiptBook {
  private readonly accepted = new Map<string, bigint>();

  constructor(readonly chainId: number) {}

  /** Highest cumulative count accepted for a (reader, server, object), 0 when none. */
  lastAccepted(m: Pick<RetrievalReceiptMessage, 'reader' | 'server' | 'objectId'>): bigint {
    return this.accepted.get(receiptKey(m)) ?? 0n;
  }

  /**
   * Verifies a receipt and, when it pays, records its count so the same bytes are never paid twice.
   *
   * @example const v = await book.redeem(receipt, server, 5_000n); // { ok: true, payableBytes: 5000n }
   */
  async redeem(receipt: SignedReceipt, server: Address, servedBytes: bigint): Promise<ReceiptVerdict> {
    const key = receiptKey(receipt.message);
    const verdict = await verifyReceipt({
      chainId: this.chainId,
      receipt,
      server,
      servedBytes,
      lastAccepted: this.accepted.get(key) ?? 0n,
    });
    // Re-read after the await: a concurrent redemption of a higher receipt must not be undone.
    if (verdict.ok) {
      const now = this.accepted.get(key) ?? 0n;
      if (receipt.message.cumulativeBytes <= now) return { ok: false, reason: 'replayed' };
      this.accepted.set(key, receipt.message.cumulativeBytes);
      return { ok: true, payableBytes: receipt.message.cumulativeBytes - now };
    }
    return verdict;
  }
}

/** Most receipts one `POST /v1/storage/receipts` carries. */
export const MAX_RECEIPTS_PER_POST = 64;

/**
 * What a reader signs to post its receipts (a `receipts` storage request's objectId): sha256 over
 * a tag and the receipts' signatures in order. Each signature binds its receipt's content, so the
 * digest binds the whole list; the tag keeps it from being any blob's content id in practice.
 *
 * @example const objectId = receiptsDigest(receipts); // '0x…' (32 bytes)
 */
export function receiptsDigest(receipts: readonly { signature: string }[]): Hex {
  const h = createHash('sha256').update('plexus-receipts:');
  for (const r of receipts) h.update(r.signature.toLowerCase()).update(',');
  return `0x${h.digest('hex')}`;
}
