/**
 * Repair orders (docs/storage.md, "Repair"): when a segment's healthy pieces fall to the repair
 * threshold, each lost piece is assigned to a provider holding no piece of the object, which
 * fetches K pieces through a read grant, rebuilds the lost one, checks it against its root and
 * keeps it. Split from createStorageNetwork.ts (which passes its state in).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import type { Logger } from '../../logger.ts';
import type { ObjectManifest } from '../../storage/erasure.ts';
import { chooseSegmentHolder, type PlacementCandidate, repairThreshold } from './choosePlacement.ts';
import type { createGrantBook } from './grantBook.ts';
import { newOrder, type OrderBook } from './orderProof.ts';
import { recordRepairOrder } from './repairOrders.ts';
import type { StorageSession } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * @example const maybeRepair = createRepairer({ ... }); await maybeRepair(objectId, 0);
 */
export function createRepairer(deps: {
  db: Kysely<StorageDatabase>;
  log: Logger;
  now: () => number;
  orderTtlMs: number;
  grants: ReturnType<typeof createGrantBook>;
  orders: OrderBook;
  session: (address: string) => StorageSession | undefined;
  candidates: () => PlacementCandidate[];
  holdersOf: (objectId: string) => Promise<Set<string>>;
}) {
  const { db, log, now, grants, orders } = deps;
  /** Starts repair orders for a segment whose healthy pieces fell to its threshold. */
  return async function maybeRepair(objectId: string, segment: number): Promise<void> {
    const o = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (!o || o.status === 'removed' || o.status === 'failed') return;
    // Stored before signed puts: a repair is charged to the owner, so it waits for the owner to re-sign (unsignedObjects.ts).
    if (!o.put_request) {
      log.warn(
        { objectId, segment },
        'repair waits for the owner to re-sign its put (stored before signed puts)',
      );
      return;
    }
    const pieces = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('object_id', '=', objectId)
      .where('segment', '=', segment)
      .execute();
    const healthy = pieces.filter((p) => p.status === 'healthy');
    if (healthy.length > repairThreshold(o.data_pieces, o.parity_pieces)) return;
    if (healthy.length < o.data_pieces) {
      log.error(
        { objectId, segment, healthy: healthy.length },
        'segment has fewer than K healthy pieces: cannot repair',
      );
      return;
    }
    const manifest = JSON.parse(o.manifest) as ObjectManifest;
    const ofObject = await deps.holdersOf(objectId);
    // Nor back to a holder of this segment that lost its piece.
    const ofSegment = new Set(pieces.flatMap((p) => (p.holder ? [p.holder] : [])));
    for (const p of pieces.filter((x) => x.status === 'lost')) {
      const holder = chooseSegmentHolder(deps.candidates(), p.piece_bytes, ofObject, ofSegment);
      if (!holder) {
        log.warn({ objectId, segment, idx: p.idx }, 'no provider free to take a repaired piece; will retry');
        continue;
      }
      ofObject.add(holder);
      ofSegment.add(holder);
      const s = deps.session(holder)!;
      s.freeBytes -= p.piece_bytes;
      const orderId = randomBytes(16).toString('hex');
      const t = randomBytes(32).toString('hex');
      const expiresAt = now() + deps.orderTtlMs;
      grants.set(t, {
        kind: 'read',
        orderId,
        reader: holder,
        objectId,
        roots: new Set(healthy.map((h) => h.root)),
        expiresAt,
      });
      orders.set(
        orderId,
        newOrder({ objectId, segment, idx: p.idx, holder, token: t, need: o.data_pieces, expiresAt }),
      );
      // In the store too: a restart forgets the order book, not what the order fetched (repairOrders.ts).
      await recordRepairOrder(db, {
        ...{ order_id: orderId, object_id: objectId, segment, idx: p.idx, root: p.root, holder },
        ...{ need: o.data_pieces, fetched: '[]', created_at: now(), expires_at: expiresAt },
      });
      await db
        .updateTable('storage_pieces')
        .set({ status: 'repairing', holder, order_id: orderId, updated_at: now() })
        .where('object_id', '=', objectId)
        .where('segment', '=', segment)
        .where('idx', '=', p.idx)
        .execute();
      s.send({
        type: 'store.repair',
        orderId,
        pieceRoot: p.root as Hex,
        index: p.idx,
        pieceBytes: p.piece_bytes,
        leafBytes: manifest.leafBytes,
        dataPieces: o.data_pieces,
        parityPieces: o.parity_pieces,
        sources: healthy.map((h) => ({ index: h.idx, root: h.root as Hex })),
        token: t,
        objectId,
      });
      log.info({ objectId, segment, idx: p.idx, holder }, 'repair ordered');
    }
  };
}
