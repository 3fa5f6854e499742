/**
 * Types of the coordinator's storage network (createStorageNetwork.ts): a storage provider's
 * session, the one-use grants behind piece tokens, and what the network asks the market for money.
 */
import type { Transaction } from 'kysely';
import type { StorageCoordinatorMessage, StorageOffer } from '../../protocol/storageSession.ts';
import type { StorageDatabase } from './storageTables.ts';

/** What the coordinator knows of a connected provider that offers storage. */
export type StorageSession = {
  address: string;
  region: string;
  /** The network its session comes from (kinship.ts `networkPrefix`): placement spreads over them. */
  prefix?: string | null;
  offer: StorageOffer;
  /** Free bytes after the pieces placed on it since it connected. */
  freeBytes: number;
  send(msg: StorageCoordinatorMessage): boolean;
};

/** An HTTP request a token allows: fetch a piece to keep, post a piece to a reader, read pieces. */
export type Grant =
  | { kind: 'put'; orderId: string; holder: string; path: string; expiresAt: number }
  | {
      kind: 'relay';
      orderId: string;
      holder: string;
      root: string;
      expiresAt: number;
      resolve(bytes: Uint8Array): void;
      reject(err: Error): void;
    }
  | {
      kind: 'read';
      reader: string;
      objectId: string;
      roots: Set<string>;
      expiresAt: number;
      /** A repair order's grant: the pieces it relays count as fetched for that order (orderProof.ts). */
      orderId?: string;
      /**
       * For a reader other than the owner: the bytes of the object it may have had served in all
       * (its reads are charged to the owner; constants.ts `modelReadsPerReader`).
       */
      readLimitBytes?: number;
      /** Direct-serving tickets issued under this grant so far (directTickets.ts). */
      tickets?: number;
    };

/** What the storage network asks the market: escrow admission and the epoch now (docs/storage.md, "Money"). */
export type StorageMoney = {
  /** Throws PLX_INSUFFICIENT_ESCROW when the client's available escrow is below `amount` now. */
  check(client: string, amount: bigint): Promise<void>;
  /**
   * Checks again under the market's admission lock, then runs `store` (which posts the hold) in
   * the admission's transaction `trx` where it gives one (Market.admitCharge).
   */
  admit(
    client: string,
    amount: bigint,
    store: (trx?: Transaction<StorageDatabase>) => Promise<void>,
  ): Promise<void>;
  /**
   * The epoch new entries belong to and when it started (ms); `unclosed`: the epoch before it
   * when that one has ended but is not closed yet (its window, ms).
   */
  epochNow(): Promise<{
    epoch: number;
    from: number;
    unclosed?: { epoch: number; from: number; to: number };
  }>;
};
