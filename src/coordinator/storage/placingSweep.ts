/**
 * Uploads and repairs that stall (docs/storage.md, "Stalled uploads"): orders live in the
 * coordinator's memory and holders come and go, so every `sweepMs` the coordinator
 * - ends orders whose time ran out (a put's piece is placed elsewhere; a repair's piece is lost
 *   again, and the next window orders its repair anew);
 * - places elsewhere a pending piece not updated for `placeTimeoutMs` whose holder is gone or has
 *   no open order for it (it refused, and nobody else had room then);
 * - gives up on an object still `placing` `placeDeadlineMs` after its put: it becomes `failed`, its
 *   pieces are dropped on their holders, the staging copy deleted and the unused term released to
 *   the client's escrow. The client's blob stays on the coordinator, so nothing is lost: a new
 *   `store put` of it starts over.
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.ts';
import type { OrderBook } from './orderProof.ts';
import type { StorageDatabase } from './storageTables.ts';

type PieceRow = StorageDatabase['storage_pieces'];

/**
 * One sweep; returns what it did (tests and logs).
 *
 * @example await sweepPlacing({ db, orders, now, cfg, replace, fail, log });
 */
export async function sweepPlacing(deps: {
  db: Kysely<StorageDatabase>;
  orders: OrderBook;
  now: () => number;
  cfg: { placeTimeoutMs: number; placeDeadlineMs: number };
  /** Whether a provider's session is open now. */
  connected: (address: string) => boolean;
  /** Orders a pending piece to another holder (the current one when nobody else has room). */
  replace: (piece: PieceRow) => Promise<void>;
  /** Ends an object that could not be placed in time. */
  fail: (objectId: string) => Promise<void>;
  log: Logger;
}): Promise<{ lapsed: number; replaced: number; failed: number }> {
  const { db, orders, now, cfg, log } = deps;
  const t = now();
  const out = { lapsed: 0, replaced: 0, failed: 0 };
  const pieceOf = (id: string) =>
    db.selectFrom('storage_pieces').selectAll().where('order_id', '=', id).executeTakeFirst();
  for (const [orderId, o] of orders.lapsed(t)) {
    orders.drop(orderId);
    out.lapsed++;
    const p = await pieceOf(orderId);
    if (!p) continue;
    log.warn({ orderId, holder: o.holder, objectId: p.object_id, idx: p.idx }, 'storage order lapsed');
    if (p.status === 'repairing')
      await db
        .updateTable('storage_pieces')
        .set({ status: 'lost', holder: null, order_id: null, updated_at: t })
        .where('object_id', '=', p.object_id)
        .where('segment', '=', p.segment)
        .where('idx', '=', p.idx)
        .where('order_id', '=', orderId)
        .execute();
  }
  const placing = await db
    .selectFrom('storage_objects')
    .select(['object_id', 'created_at'])
    .where('status', '=', 'placing')
    .execute();
  for (const o of placing) {
    if (o.created_at + cfg.placeDeadlineMs <= t) {
      log.warn({ objectId: o.object_id }, 'object not placed by its deadline: failed, term released');
      await deps.fail(o.object_id);
      out.failed++;
      continue;
    }
    const stuck = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('object_id', '=', o.object_id)
      .where('status', '=', 'pending')
      .execute();
    for (const p of stuck) {
      if (p.updated_at + cfg.placeTimeoutMs > t) continue;
      if (orders.has(p.order_id ?? '') && p.holder && deps.connected(p.holder)) continue;
      await deps.replace(p);
      out.replaced++;
    }
  }
  return out;
}
