/**
 * EIP-712 messages of the storage and bandwidth network (issue 19, docs/storage.md). They share
 * the Plexus domain (name, version, chain id) with every other off-chain message, so a receipt for
 * one network is useless on another. Kept apart from eip712.ts, whose types are the compute path's.
 */

import { type Address, type Hex, hashTypedData, type LocalAccount } from 'viem';
import { z } from 'zod';
import { plexusDomain } from './eip712.ts';
import { addressSchema, hex32Schema, signatureSchema, uintStringSchema } from './schemas.ts';

/**
 * The EIP-712 types of storage messages (Plexus domain).
 *
 * @example hashTypedData({ domain: plexusDomain(31337), types: storageTypes, primaryType: 'RetrievalReceipt', message })
 */
export const storageTypes = {
  /**
   * Signed by a reader for one server: "you have served me `cumulativeBytes` of this object in
   * all". Cumulative, so each new receipt supersedes the last, a lost one costs nothing, and a
   * replayed one (not higher than the last redeemed) is worthless.
   */
  RetrievalReceipt: [
    { name: 'reader', type: 'address' },
    { name: 'server', type: 'address' },
    { name: 'objectId', type: 'bytes32' },
    { name: 'cumulativeBytes', type: 'uint256' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /**
   * Signed by a client for one storage request (`action`: `put`, `read`, `remove`, `list`, or
   * `receipts`, which signs a post of its receipts by their digest and count): which
   * object, how it is coded and for how many epochs (0 where the action has none).
   */
  StorageRequest: [
    { name: 'client', type: 'address' },
    { name: 'action', type: 'string' },
    { name: 'objectId', type: 'bytes32' },
    { name: 'dataPieces', type: 'uint16' },
    { name: 'parityPieces', type: 'uint16' },
    { name: 'epochs', type: 'uint32' },
    { name: 'maxPricePerGiBEpoch', type: 'uint256' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /**
   * Signed by a direct piece server with its provider key for each piece it serves: "I, `server`,
   * serve piece `pieceRoot` on ticket `ticket`". The ticket is 32 random bytes the coordinator
   * gave only to that holder (over its session) and to the reader, so the signature proves the
   * answer comes from the holder the coordinator named, for this request (docs/storage.md,
   * "Direct serving").
   */
  DirectPiece: [
    { name: 'server', type: 'address' },
    { name: 'ticket', type: 'bytes32' },
    { name: 'pieceRoot', type: 'bytes32' },
  ],
} as const;

/** What a client signs for a storage request (see `storageTypes.StorageRequest`). */
export type StorageRequestMessage = {
  client: Address;
  /** `receipts`: posting a reader's receipts (`POST /v1/storage/receipts`, objectId = their digest). */
  action: 'put' | 'read' | 'remove' | 'list' | 'receipts';
  objectId: Hex;
  dataPieces: number;
  parityPieces: number;
  epochs: number;
  maxPricePerGiBEpoch: bigint;
  issuedAt: bigint;
};

/**
 * A signed storage request on the wire (the body of `POST /v1/storage/requests`).
 *
 * @example const req = storageRequestSchema.parse(body);
 */
export const storageRequestSchema = z.strictObject({
  client: addressSchema,
  action: z.enum(['put', 'read', 'remove', 'list', 'receipts']),
  objectId: hex32Schema,
  /** 0: the default. The coordinator also needs 1 <= M <= K and K + M <= 32 (docs/storage.md). */
  dataPieces: z.int().min(0).max(32),
  parityPieces: z.int().min(0).max(32),
  epochs: z.int().min(0).max(1_000_000),
  maxPricePerGiBEpoch: uintStringSchema,
  issuedAt: z.int().positive(),
  signature: signatureSchema,
});
export type StorageRequestWire = z.infer<typeof storageRequestSchema>;

/**
 * The EIP-712 digest of a storage request.
 *
 * @example const digest = storageRequestHash(31337, message);
 */
export function storageRequestHash(chainId: number, message: StorageRequestMessage): Hex {
  return hashTypedData({
    domain: plexusDomain(chainId),
    types: storageTypes,
    primaryType: 'StorageRequest',
    message: {
      ...message,
      maxPricePerGiBEpoch: message.maxPricePerGiBEpoch,
      issuedAt: message.issuedAt,
    },
  });
}

/**
 * Signs a storage request and returns its wire form.
 *
 * @example const body = await signStorageRequest(account, 31337, { action: 'put', objectId, dataPieces: 4, parityPieces: 2, epochs: 10 });
 */
export async function signStorageRequest(
  account: LocalAccount,
  chainId: number,
  r: Partial<Omit<StorageRequestMessage, 'client'>> & Pick<StorageRequestMessage, 'action'>,
): Promise<StorageRequestWire> {
  const message: StorageRequestMessage = {
    client: account.address,
    action: r.action,
    objectId: r.objectId ?? `0x${'00'.repeat(32)}`,
    dataPieces: r.dataPieces ?? 0,
    parityPieces: r.parityPieces ?? 0,
    epochs: r.epochs ?? 0,
    maxPricePerGiBEpoch: r.maxPricePerGiBEpoch ?? 0n,
    issuedAt: r.issuedAt ?? BigInt(Math.floor(Date.now() / 1000)),
  };
  const hash = storageRequestHash(chainId, message);
  const signature =
    account.sign !== undefined
      ? await account.sign({ hash })
      : await account.signTypedData({
          domain: plexusDomain(chainId),
          types: storageTypes,
          primaryType: 'StorageRequest',
          message,
        });
  return {
    client: message.client,
    action: message.action,
    objectId: message.objectId.toLowerCase(),
    dataPieces: message.dataPieces,
    parityPieces: message.parityPieces,
    epochs: message.epochs,
    maxPricePerGiBEpoch: message.maxPricePerGiBEpoch.toString(),
    issuedAt: Number(message.issuedAt),
    signature,
  };
}

/**
 * A storage request from its wire form.
 *
 * @example const { message, signature } = storageRequestFromWire(storageRequestSchema.parse(body));
 */
export function storageRequestFromWire(w: StorageRequestWire): {
  message: StorageRequestMessage;
  signature: Hex;
} {
  return {
    message: {
      client: w.client,
      action: w.action,
      objectId: w.objectId as Hex,
      dataPieces: w.dataPieces,
      parityPieces: w.parityPieces,
      epochs: w.epochs,
      maxPricePerGiBEpoch: BigInt(w.maxPricePerGiBEpoch),
      issuedAt: BigInt(w.issuedAt),
    },
    signature: w.signature,
  };
}

/**
 * A storage request's wire form (the inverse of `storageRequestFromWire`): kept with a stored
 * object as the evidence of its owner's put.
 *
 * @example const wire = storageRequestToWire(message, signature);
 */
export function storageRequestToWire(message: StorageRequestMessage, signature: Hex): StorageRequestWire {
  return {
    client: message.client,
    action: message.action,
    objectId: message.objectId,
    dataPieces: message.dataPieces,
    parityPieces: message.parityPieces,
    epochs: message.epochs,
    maxPricePerGiBEpoch: message.maxPricePerGiBEpoch.toString(),
    issuedAt: Number(message.issuedAt),
    signature,
  };
}

export type RetrievalReceiptMessage = {
  reader: Address;
  server: Address;
  /** sha256 of the object (its content id, 0x-prefixed). */
  objectId: Hex;
  cumulativeBytes: bigint;
  issuedAt: bigint;
};

/**
 * A receipt on the wire: integers as decimal strings, so no JSON parser rounds them.
 *
 * @example const { message, signature } = receiptFromWire(retrievalReceiptSchema.parse(body));
 */
export const retrievalReceiptSchema = z.strictObject({
  reader: addressSchema,
  server: addressSchema,
  objectId: hex32Schema,
  cumulativeBytes: uintStringSchema,
  issuedAt: uintStringSchema,
  signature: signatureSchema,
});
export type RetrievalReceiptWire = z.infer<typeof retrievalReceiptSchema>;

/**
 * The EIP-712 digest of a receipt.
 *
 * @example const digest = retrievalReceiptHash(31337, receipt);
 */
export function retrievalReceiptHash(chainId: number, message: RetrievalReceiptMessage): Hex {
  return hashTypedData({
    domain: plexusDomain(chainId),
    types: storageTypes,
    primaryType: 'RetrievalReceipt',
    message,
  });
}

/**
 * Signs a receipt with the reader's local account (its digest signed with `sign` where the account
 * has it, which is what viem's `signTypedData` does).
 *
 * @example const signature = await signRetrievalReceipt(reader, 31337, receipt);
 */
export function signRetrievalReceipt(
  account: LocalAccount,
  chainId: number,
  message: RetrievalReceiptMessage,
): Promise<Hex> {
  if (account.sign !== undefined) return account.sign({ hash: retrievalReceiptHash(chainId, message) });
  return account.signTypedData({
    domain: plexusDomain(chainId),
    types: storageTypes,
    primaryType: 'RetrievalReceipt',
    message,
  });
}

/**
 * A receipt from its wire form (after schema validation).
 *
 * @example const { message, signature } = receiptFromWire(retrievalReceiptSchema.parse(body));
 */
export function receiptFromWire(wire: RetrievalReceiptWire): {
  message: RetrievalReceiptMessage;
  signature: Hex;
} {
  return {
    message: {
      reader: wire.reader,
      server: wire.server,
      objectId: wire.objectId as Hex,
      cumulativeBytes: BigInt(wire.cumulativeBytes),
      issuedAt: BigInt(wire.issuedAt),
    },
    signature: wire.signature,
  };
}

/**
 * The wire form of a receipt.
 *
 * @example const body = receiptToWire(message, signature);
 */
export function receiptToWire(message: RetrievalReceiptMessage, signature: Hex): RetrievalReceiptWire {
  return {
    reader: message.reader,
    server: message.server,
    objectId: message.objectId,
    cumulativeBytes: message.cumulativeBytes.toString(),
    issuedAt: message.issuedAt.toString(),
    signature,
  };
}

/**
 * A holder's answer to one challenge on the wire: per challenged index, the leaf (base64) and its
 * Merkle path bottom up (lowercase 0x-hex, null where a node was carried up alone). Bounded so a
 * hostile answer cannot make the verifier allocate much: 1,024 leaves of at most 1 MiB, paths of
 * at most 64 steps.
 *
 * @example const wire = challengeAnswerSchema.parse(body); // then answerFromWire(wire) in src/storage
 */
export const challengeAnswerSchema = z.strictObject({
  pieceRoot: hex32Schema,
  window: z.int().min(0),
  leaves: z
    .array(
      z.strictObject({
        index: z.int().min(0),
        leaf: z.base64().max(1_398_104),
        path: z.array(hex32Schema.nullable()).max(64),
      }),
    )
    .max(1024),
});
export type ChallengeAnswerWire = z.infer<typeof challengeAnswerSchema>;

/** What a direct piece server signs for each piece it serves (see `storageTypes.DirectPiece`). */
export type DirectPieceMessage = { server: Address; ticket: Hex; pieceRoot: Hex };

/**
 * The EIP-712 digest of a direct piece answer.
 *
 * @example const digest = directPieceHash(31337, { server, ticket: `0x${ticket}`, pieceRoot });
 */
export function directPieceHash(chainId: number, message: DirectPieceMessage): Hex {
  return hashTypedData({
    domain: plexusDomain(chainId),
    types: storageTypes,
    primaryType: 'DirectPiece',
    message,
  });
}

/**
 * Signs a direct piece answer with the server's provider account.
 *
 * @example res.header(STORAGE_PIECE_SIGNATURE_HEADER, await signDirectPiece(account, 31337, message));
 */
export function signDirectPiece(
  account: LocalAccount,
  chainId: number,
  message: DirectPieceMessage,
): Promise<Hex> {
  if (account.sign !== undefined) return account.sign({ hash: directPieceHash(chainId, message) });
  return account.signTypedData({
    domain: plexusDomain(chainId),
    types: storageTypes,
    primaryType: 'DirectPiece',
    message,
  });
}
