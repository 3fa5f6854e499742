/**
 * The storage network's tables (migration 0011_storage_network), typed for Kysely. Kept apart
 * from store/schema.ts: the storage module opens the shared connection with these types only.
 */
import type { Generated, Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Piece health: placed and proven, being placed, being rebuilt elsewhere, lost, or given up. */
export type PieceStatus = 'pending' | 'healthy' | 'repairing' | 'lost' | 'dropped';

export type StorageTables = {
  storage_objects: {
    object_id: string;
    client: string;
    object_bytes: number;
    data_pieces: number;
    parity_pieces: number;
    /** JSON of the ObjectManifest (src/storage/erasure.ts). */
    manifest: string;
    epochs: number;
    price_per_gib_epoch: string;
    escrow: string;
    start_epoch: number;
    /** `failed`: never fully placed by its deadline; its pieces dropped and its term released. */
    status: 'placing' | 'stored' | 'removed' | 'failed';
    created_at: number;
    updated_at: number;
    /** JSON of the client's signed `put` (StorageRequestWire), migration 0028; null before it. */
    put_request: string | null;
  };
  storage_pieces: {
    object_id: string;
    segment: number;
    idx: number;
    root: string;
    piece_bytes: number;
    holder: string | null;
    status: PieceStatus;
    order_id: string | null;
    updated_at: number;
  };
  storage_windows: { window: number; seed: string; source: string; opened_at: number };
  storage_faults: {
    id: Generated<number>;
    object_id: string;
    segment: number;
    idx: number;
    root: string;
    provider: string;
    window: number;
    reason: string;
    evidence: string;
    created_at: number;
  };
  storage_receipts: {
    reader: string;
    server: string;
    object_id: string;
    served_bytes: string;
    redeemed_bytes: string;
    updated_at: number;
  };
  /** A passed challenge (migration 0017_storage_money): what a holder is paid per epoch from. */
  storage_proofs: {
    id: Generated<number>;
    object_id: string;
    segment: number;
    idx: number;
    root: string;
    holder: string;
    window: number;
    created_at: number;
  };
  /**
   * A repair order (migration 0028): which piece, who rebuilds it, and the source roots it fetched
   * through its grant (JSON array); kept after the order ends, so a restart can still pay it.
   */
  storage_repair_orders: {
    order_id: string;
    object_id: string;
    segment: number;
    idx: number;
    root: string;
    holder: string;
    need: number;
    fetched: string;
    created_at: number;
    expires_at: number;
  };
  /**
   * A direct-serving ticket (migration 0040): its bytes counted for (reader, server, object) when
   * issued; `serving` once its server reported serving it; `returned` once given back (never
   * served by its expiry, or aborted). directTickets.ts.
   */
  storage_tickets: {
    ticket: string;
    reader: string;
    server: string;
    object_id: string;
    bytes: number;
    expires_at: number;
    state: 'issued' | 'serving' | 'returned';
  };
  /** Every receipt redemption tried: accepted (amount paid) or refused (reason). */
  storage_redemptions: {
    id: Generated<number>;
    reader: string;
    server: string;
    redeemer: string;
    object_id: string;
    cumulative_bytes: string;
    ok: number;
    reason: string | null;
    amount: string;
    created_at: number;
  };
};

/** The coordinator's database with the storage tables (one connection, one statement queue). */
export type StorageDatabase = Database & StorageTables;

/**
 * The shared Kysely handle typed with the storage tables.
 *
 * @example const sdb = storageDb(store.db); await sdb.selectFrom('storage_pieces').selectAll().execute();
 */
export function storageDb(db: Kysely<Database>): Kysely<StorageDatabase> {
  return db as unknown as Kysely<StorageDatabase>;
}
