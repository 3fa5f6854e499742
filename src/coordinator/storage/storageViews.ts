/**
 * Read-only views of stored objects for the API and the CLI (issue 19).
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { StorageStatsView } from '../../protocol/http/storage.ts';
import { repairThreshold } from './choosePlacement.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * Every piece of an object: where it is and its health.
 *
 * @example const pieces = await pieceViews(db, cid);
 */
export async function pieceViews(db: Kysely<StorageDatabase>, objectId: string) {
  const rows = await db
    .selectFrom('storage_pieces')
    .select(['segment', 'idx', 'root', 'holder', 'status'])
    .where('object_id', '=', objectId)
    .orderBy('segment')
    .orderBy('idx')
    .execute();
  return rows.map((r) => ({
    segment: r.segment,
    index: r.idx,
    root: r.root,
    holder: r.holder,
    status: r.status,
  }));
}

/**
 * The objects a client stores (`plexus store ls`).
 *
 * @example const objects = await listObjects(db, client);
 */
export async function listObjects(db: Kysely<StorageDatabase>, client: string) {
  const rows = await db
    .selectFrom('storage_objects')
    .select(['object_id', 'object_bytes', 'data_pieces', 'parity_pieces', 'status', 'created_at', 'epochs'])
    .where('client', '=', client.toLowerCase())
    .where('status', '!=', 'removed')
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    objectId: r.object_id,
    bytes: r.object_bytes,
    dataPieces: r.data_pieces,
    parityPieces: r.parity_pieces,
    status: r.status,
    epochs: r.epochs,
    createdAt: r.created_at,
  }));
}

/**
 * An object as `plexus store status` shows it: pieces, holders, health, faults, terms.
 *
 * @example const view = await objectStatus(db, cid);
 */
export async function objectStatus(db: Kysely<StorageDatabase>, objectId: string) {
  const o = await db
    .selectFrom('storage_objects')
    .selectAll()
    .where('object_id', '=', objectId)
    .executeTakeFirst();
  if (!o) throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId}`);
  const pieces = await pieceViews(db, objectId);
  const faults = await db
    .selectFrom('storage_faults')
    .select(['segment', 'idx', 'provider', 'window', 'reason', 'created_at'])
    .where('object_id', '=', objectId)
    .orderBy('id')
    .execute();
  const w = await db
    .selectFrom('storage_windows')
    .select((eb) => eb.fn.max('window').as('w'))
    .executeTakeFirst();
  return {
    objectId,
    lastWindow: Number(w?.w ?? 0),
    client: o.client,
    bytes: o.object_bytes,
    dataPieces: o.data_pieces,
    parityPieces: o.parity_pieces,
    status: o.status,
    epochs: o.epochs,
    pricePerGiBEpoch: o.price_per_gib_epoch,
    escrow: o.escrow,
    /** False for an object stored before signed puts: read-only until its owner puts it again (unsignedObjects.ts). */
    signedPut: o.put_request !== null,
    healthy: pieces.filter((p) => p.status === 'healthy').length,
    repairThreshold: repairThreshold(o.data_pieces, o.parity_pieces),
    pieces,
    faults: faults.map((f) => ({
      segment: f.segment,
      index: f.idx,
      provider: f.provider,
      window: f.window,
      reason: f.reason,
      at: f.created_at,
    })),
  };
}

/** How many recent faults `/v1/storage/stats` lists. */
const RECENT_FAULTS = 20;

/**
 * The network's storage figures for the explorer (no object ids or clients: see
 * protocol/http/storage.ts).
 *
 * @example const stats = await storageStats(db);
 */
export async function storageStats(db: Kysely<StorageDatabase>): Promise<StorageStatsView> {
  const objects = await db
    .selectFrom('storage_objects')
    .select([
      'status',
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.sum<number>('object_bytes').as('bytes'),
    ])
    .where('status', '!=', 'removed')
    .groupBy('status')
    .execute();
  const pieces = await db
    .selectFrom('storage_pieces as p')
    .innerJoin('storage_objects as o', 'o.object_id', 'p.object_id')
    .select(['p.status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('o.status', '!=', 'removed')
    .groupBy('p.status')
    .execute();
  const holders = await db
    .selectFrom('storage_pieces as p')
    .innerJoin('storage_objects as o', 'o.object_id', 'p.object_id')
    .select((eb) => eb.fn.count<number>('p.holder').distinct().as('n'))
    .where('o.status', '!=', 'removed')
    .where('p.status', '=', 'healthy')
    .executeTakeFirst();
  const total = await db
    .selectFrom('storage_faults')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  const recent = await db
    .selectFrom('storage_faults')
    .select(['provider', 'reason', 'window', 'created_at'])
    .orderBy('id', 'desc')
    .limit(RECENT_FAULTS)
    .execute();
  const w = await db
    .selectFrom('storage_windows')
    .select((eb) => eb.fn.max('window').as('w'))
    .executeTakeFirst();
  const count = (rows: { status: string; n: number | string }[], status: string) =>
    Number(rows.find((r) => r.status === status)?.n ?? 0);
  return {
    objects: { stored: count(objects, 'stored'), placing: count(objects, 'placing') },
    // SUM over a PostgreSQL bigint comes back as text: numbers here, as SQLite gives them.
    storedBytes: objects.filter((o) => o.status === 'stored').reduce((a, o) => a + Number(o.bytes ?? 0), 0),
    pieces: {
      healthy: count(pieces, 'healthy'),
      pending: count(pieces, 'pending'),
      repairing: count(pieces, 'repairing'),
      lost: count(pieces, 'lost'),
      dropped: count(pieces, 'dropped'),
    },
    holders: Number(holders?.n ?? 0),
    lastWindow: Number(w?.w ?? 0),
    faults: {
      total: Number(total?.n ?? 0),
      recent: recent.map((f) => ({
        provider: f.provider,
        reason: f.reason,
        window: f.window,
        at: f.created_at,
      })),
    },
  };
}
