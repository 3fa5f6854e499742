/**
 * The storage network's messages on a provider's existing session (issue 19, docs/storage.md).
 * Control travels over the WebSocket; piece bytes travel over HTTP requests the provider makes
 * itself (it fetches the piece it was asked to keep, it posts the piece it was asked to serve), so
 * a provider behind NAT stores and serves through connections it opened, exactly like its session.
 *
 * Only zod is imported here: schemas.ts includes these in its message unions.
 */
import { z } from 'zod';

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 0x + 64 lowercase hex');
const id = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex');

/** What a provider offers to the storage network, in its session auth (signed with the rest). */
export const storageOfferSchema = z.strictObject({
  /** Bytes it offers (`--storage-gib`). */
  offeredBytes: z
    .int()
    .min(0)
    .max(2 ** 53 - 1),
  /** Bytes of the offer not yet used by pieces. */
  freeBytes: z
    .int()
    .min(0)
    .max(2 ** 53 - 1),
  /** Pieces it holds now (their roots), so a restarted coordinator and agent agree. */
  pieces: z.array(hex32).max(100_000).default([]),
  /**
   * Where it serves pieces directly (`--serve-address`), `http://host:port`: readers fetch its
   * pieces there with a ticket (`store.ticket`) instead of through the coordinator's relay.
   */
  serveUrl: z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9.\-[\]:]{1,200}$/, 'must be http(s)://host:port')
    .optional(),
});
export type StorageOffer = z.infer<typeof storageOfferSchema>;

/** Provider → coordinator: a piece it was asked to keep is on its disk and matches the root. */
export const storeStoredSchema = z.strictObject({
  type: z.literal('store.stored'),
  orderId: id,
  pieceRoot: hex32,
});

/** Provider → coordinator: it could not keep, serve or repair what an order asked. */
export const storeRefusedSchema = z.strictObject({
  type: z.literal('store.refused'),
  orderId: id,
  code: z.string().regex(/^PLX_[A-Z0-9_]{1,60}$/),
  message: z.string().max(2000),
});

/**
 * Provider → coordinator: the answer to a storage challenge, the leaves and their Merkle paths
 * (the same bounds as `challengeAnswerSchema` in storageMessages.ts). `leaves` empty: it cannot answer.
 */
export const storeAnswerSchema = z.strictObject({
  type: z.literal('store.answer'),
  challengeId: id,
  pieceRoot: hex32,
  window: z.int().min(0),
  leaves: z
    .array(
      z.strictObject({
        index: z.int().min(0),
        leaf: z.base64().max(1_398_104),
        path: z.array(hex32.nullable()).max(64),
      }),
    )
    .max(1024),
});

/**
 * Provider → coordinator: redeem a reader's signed cumulative retrieval receipt (the shape of
 * `retrievalReceiptSchema` in storageMessages.ts) for the bytes this provider served it.
 */
export const storeRedeemSchema = z.strictObject({
  type: z.literal('store.redeem'),
  receipt: z.strictObject({
    reader: z.string().regex(/^0x[0-9a-fA-F]{40}$/) as z.ZodType<`0x${string}`>,
    server: z.string().regex(/^0x[0-9a-fA-F]{40}$/) as z.ZodType<`0x${string}`>,
    objectId: hex32,
    cumulativeBytes: z.string().regex(/^(0|[1-9][0-9]{0,76})$/),
    issuedAt: z.string().regex(/^(0|[1-9][0-9]{0,19})$/),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/) as z.ZodType<`0x${string}`>,
  }),
});
export type StoreRedeem = z.infer<typeof storeRedeemSchema>;

/**
 * Provider → coordinator: a direct-serving ticket (`store.ticket`) is being served (`serving`,
 * sent before any byte of the piece) or its piece did not go out in full (`aborted`). The
 * coordinator gives the bytes of a ticket never served, or aborted, back to the reader's count
 * (docs/storage.md, "Direct serving").
 */
export const storeTicketUseSchema = z.strictObject({
  type: z.literal('store.ticketUse'),
  ticket: z.string().regex(/^[0-9a-f]{64}$/),
  use: z.enum(['serving', 'aborted']),
});
export type StoreTicketUse = z.infer<typeof storeTicketUseSchema>;

/** The storage messages a provider may send (part of `providerMessageSchema`). */
export const storageProviderMessageSchemas = [
  storeStoredSchema,
  storeRefusedSchema,
  storeAnswerSchema,
  storeRedeemSchema,
  storeTicketUseSchema,
] as const;

/**
 * Coordinator → provider storage messages. Tokens are single-purpose secrets for the HTTP request
 * they authorize (`x-plexus-storage-token`), valid for that order only.
 */
export type StorageCoordinatorMessage =
  /** Keep this piece: GET it from `/v1/storage/orders/:orderId/piece`, check it against its root, store it. */
  | {
      type: 'store.put';
      orderId: string;
      pieceRoot: `0x${string}`;
      pieceBytes: number;
      leafBytes: number;
      token: string;
    }
  /** Answer within `deadlineMs` with the challenged leaves of this piece (src/storage/challenge.ts). */
  | {
      type: 'store.challenge';
      challengeId: string;
      pieceRoot: `0x${string}`;
      window: number;
      seed: `0x${string}`;
      pieceBytes: number;
      leafBytes: number;
      count: number;
      deadlineMs: number;
    }
  /** Serve this piece to a reader: POST its bytes to `/v1/storage/relay/:orderId`. */
  | { type: 'store.serve'; orderId: string; pieceRoot: `0x${string}`; token: string }
  /**
   * Rebuild this piece: GET any `dataPieces` of `sources` from `/v1/storage/pieces/:root` (the
   * coordinator relays them from their holders), check each against its root, rebuild, check the
   * result against `pieceRoot`, store it and answer `store.stored`.
   */
  | {
      type: 'store.repair';
      orderId: string;
      pieceRoot: `0x${string}`;
      index: number;
      pieceBytes: number;
      leafBytes: number;
      dataPieces: number;
      parityPieces: number;
      sources: { index: number; root: `0x${string}` }[];
      token: string;
      /** The object's content id (hex, no 0x): the repairer receipts its source reads of it. */
      objectId?: string;
    }
  /**
   * A reader may fetch this piece once from this provider's piece server (`serveUrl`) with
   * `ticket` (header `x-plexus-storage-ticket`) for `ttlMs` from now: at most `maxBytes`, the
   * piece; the coordinator counted them as granted to this server for this reader and object, the
   * most its receipts can redeem (docs/storage.md, "Direct serving").
   */
  | {
      type: 'store.ticket';
      ticket: string;
      pieceRoot: `0x${string}`;
      reader: string;
      objectId: string;
      maxBytes: number;
      ttlMs: number;
    }
  /** The piece is no longer paid for (object removed, or moved): delete it. */
  | { type: 'store.drop'; pieceRoot: `0x${string}` }
  /** A reader's receipt for this provider, forwarded by the coordinator: redeem it with `store.redeem`. */
  | { type: 'store.receipt'; receipt: StoreRedeem['receipt'] }
  /** The outcome of a `store.redeem`: bytes newly paid, or why nothing was. */
  | {
      type: 'store.redeemed';
      objectId: string;
      ok: boolean;
      reason?: string;
      payableBytes: string;
      amount: string;
    };

/** Header of the HTTP requests a storage order or read grant authorizes. */
export const STORAGE_TOKEN_HEADER = 'x-plexus-storage-token';
/** Header of a direct piece request: the ticket the coordinator issued for it (`store.ticket`). */
export const STORAGE_TICKET_HEADER = 'x-plexus-storage-ticket';
/**
 * Header of a direct piece request: the reader's latest signed cumulative receipt for that server
 * and object (JSON of a `RetrievalReceiptWire`); a server serves a reader that owes it for an
 * earlier piece only once this covers it.
 */
export const STORAGE_RECEIPT_HEADER = 'x-plexus-receipt';
/**
 * Header of a direct piece answer: the server's EIP-712 `DirectPiece` signature over its address,
 * the request's ticket and the piece root (storageMessages.ts); a reader keeps the piece only when
 * it recovers to the holder the coordinator named with the ticket.
 */
export const STORAGE_PIECE_SIGNATURE_HEADER = 'x-plexus-piece-signature';
/** Header naming the provider that served a relayed piece (readers sign receipts for it). */
export const STORAGE_SERVER_HEADER = 'x-plexus-server';
