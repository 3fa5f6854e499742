/**
 * The reader's side of retrieval receipts (docs/storage.md, "Retrieval receipts"), shared by the
 * SDK's `store get` and provider agents reading a job's model from the network: a cumulative
 * count per (server, object), continued from the reader's latest paid receipts (checked to be its
 * own signature first), a signed receipt per piece served, and the post of each server's latest
 * receipt to `POST /v1/storage/receipts`, signed by the reader as a `receipts` storage request
 * over the receipts' digest (the route refuses anything else).
 */
import type { LocalAccount } from 'viem';
import { errorFromResponse } from '../errors/httpError.ts';
import { recoverSigner } from '../protocol/eip712.ts';
import {
  type RetrievalReceiptMessage,
  type RetrievalReceiptWire,
  receiptFromWire,
  receiptToWire,
  retrievalReceiptHash,
  signRetrievalReceipt,
  signStorageRequest,
} from '../protocol/storageMessages.ts';
import { MAX_RECEIPTS_PER_POST, receiptsDigest } from './receipts.ts';

/** Per-reader counts kept at most (the oldest forgotten; a new read resumes from the ledger). */
const MAX_COUNTS = 4096;

/**
 * @example
 * const receipts = createReceiptSigner({ account, chainId: async () => 31337 });
 * await receipts.resume(cid, grant.receipts ?? []);
 * await receipts.sign(server, cid, piece.length);
 * await receipts.post(base, cid);
 */
export function createReceiptSigner(opts: {
  account: LocalAccount;
  chainId: () => Promise<number>;
  fetch?: typeof fetch;
}) {
  const me = opts.account.address.toLowerCase();
  const f = opts.fetch ?? fetch;
  /** Cumulative bytes served per `server/cid`. */
  const served = new Map<string, bigint>();
  /** Every receipt signed (the SDK's `receipts()`), newest last. */
  const signed: RetrievalReceiptWire[] = [];
  const idOf = (cid: string) => `0x${cid}` as const;

  return {
    /** Continues the counts from receipts already paid, only those this account signed for `cid`. */
    async resume(cid: string, paid: readonly RetrievalReceiptWire[]): Promise<void> {
      for (const r of paid) {
        const m = receiptFromWire(r).message;
        if (m.reader.toLowerCase() !== me || m.objectId !== idOf(cid)) continue;
        const signer = await recoverSigner(retrievalReceiptHash(await opts.chainId(), m), r.signature).catch(
          () => '',
        );
        if (signer.toLowerCase() !== me) continue;
        const key = `${m.server.toLowerCase()}/${cid}`;
        if (m.cumulativeBytes > (served.get(key) ?? 0n)) served.set(key, m.cumulativeBytes);
      }
    },
    /** Signs the next cumulative receipt for `server` after it served `bytes` of `cid`. */
    async sign(server: string, cid: string, bytes: number): Promise<RetrievalReceiptWire> {
      const key = `${server.toLowerCase()}/${cid}`;
      const cumulative = (served.get(key) ?? 0n) + BigInt(bytes);
      served.delete(key);
      served.set(key, cumulative);
      if (served.size > MAX_COUNTS) served.delete(served.keys().next().value as string);
      const message: RetrievalReceiptMessage = {
        reader: opts.account.address,
        server: server as `0x${string}`,
        objectId: idOf(cid),
        cumulativeBytes: cumulative,
        issuedAt: BigInt(Math.floor(Date.now() / 1000)),
      };
      const wire = receiptToWire(
        message,
        await signRetrievalReceipt(opts.account, await opts.chainId(), message),
      );
      signed.push(wire);
      if (signed.length > MAX_COUNTS) signed.shift();
      return wire;
    },
    /** The latest receipt signed for `server` and `cid` (shown to a direct server), if any. */
    latestFor(server: string, cid: string): RetrievalReceiptWire | undefined {
      const s = server.toLowerCase();
      for (let i = signed.length - 1; i >= 0; i--) {
        const r = signed[i]!;
        if (r.server.toLowerCase() === s && r.objectId === idOf(cid)) return r;
      }
      return undefined;
    },
    /** Each server's latest receipt for `cid`. */
    latest(cid: string): RetrievalReceiptWire[] {
      return [...new Map(signed.filter((r) => r.objectId === idOf(cid)).map((r) => [r.server, r])).values()];
    },
    /**
     * Posts each server's latest receipt for `cid` (signed by this reader); returns how many the
     * coordinator forwarded to their servers. A lost post costs nothing: the next receipt covers it.
     */
    async post(base: string, cid: string): Promise<number> {
      const receipts = this.latest(cid).slice(-MAX_RECEIPTS_PER_POST);
      if (receipts.length === 0) return 0;
      const request = await signStorageRequest(opts.account, await opts.chainId(), {
        action: 'receipts',
        objectId: receiptsDigest(receipts),
        epochs: receipts.length,
      });
      const res = await f(`${base}/v1/storage/receipts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request, receipts }),
      });
      if (!res.ok) throw await errorFromResponse(res);
      return ((await res.json()) as { forwarded: number }).forwarded;
    },
    /** Every receipt signed so far (one per piece served). */
    all: (): RetrievalReceiptWire[] => [...signed],
  };
}

/** A reader's receipt book (see `createReceiptSigner`). */
export type ReceiptSigner = ReturnType<typeof createReceiptSigner>;
