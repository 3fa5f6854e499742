/**
 * Relaying pieces from holders to readers (docs/storage.md, "Get"): a reader's
 * `GET /v1/storage/pieces/:root` asks a connected holder over its session to post the piece to
 * `POST /v1/storage/relay/:orderId`, and the bytes go back to the reader. Split from
 * createStorageNetwork.ts (which passes its state in).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type { RetrievalReceiptWire } from '../../protocol/storageMessages.ts';
import type { STORAGE_DEFAULTS } from './constants.ts';
import { assertWithinReadLimit, countServed, uncountServed } from './countServed.ts';
import type { createGrantBook } from './grantBook.ts';
import type { OrderBook } from './orderProof.ts';
import { createRelayOwed } from './relayOwed.ts';
import { recordFetched } from './repairOrders.ts';
import type { StorageSession } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * @example const { relayPiece, relayUpload } = createRelay({ db, log, now, cfg, grants, orders, sessions });
 */
export function createRelay(deps: {
  db: Kysely<StorageDatabase>;
  log: Logger;
  now: () => number;
  cfg: Pick<typeof STORAGE_DEFAULTS, 'relayTimeoutMs'>;
  grants: ReturnType<typeof createGrantBook>;
  orders: OrderBook;
  sessions: Map<string, StorageSession>;
}) {
  const { db, log, now, cfg, grants, orders, sessions } = deps;
  const liveGrant = grants.live;
  const newId = () => randomBytes(16).toString('hex');
  const token = () => randomBytes(32).toString('hex');
  /** Per reader and object, the tail of the reservations being made (see `reserve`). */
  const reserving = new Map<string, Promise<void>>();
  /** Pay as you go on the relay: beyond one unpaid piece per server, none (relayOwed.ts). */
  const owed = createRelayOwed({ db, now });

  /**
   * Counts a piece as served to `reader` before it is relayed, within the reader's limit: checking
   * the limit and counting happen one reservation at a time per reader and object, so many
   * requests at once on one grant cannot all pass the check while their holders take their time
   * (security review: 20 parallel relays counted 100,000 bytes against a 30,000-byte limit). A
   * relay that does not deliver gives its reservation back (`uncountServed`).
   */
  function reserve(
    reader: string,
    server: string,
    objectId: string,
    bytes: number,
    limitBytes: number | undefined,
    /** Before counting, in turn: throws to refuse (the relay's pay-as-you-go check). */
    check?: () => Promise<void>,
  ): Promise<void> {
    const key = `${reader}/${objectId}`;
    const run = (reserving.get(key) ?? Promise.resolve()).then(async () => {
      if (limitBytes !== undefined) await assertWithinReadLimit(db, reader, objectId, limitBytes, bytes);
      await check?.();
      await countServed(db, now(), reader, server, objectId, bytes);
    });
    const tail = run.catch(() => {});
    reserving.set(key, tail);
    void tail.then(() => {
      if (reserving.get(key) === tail) reserving.delete(key);
    });
    return run;
  }

  /**
   * `GET /v1/storage/pieces/:root`: a piece relayed from a healthy, connected holder (the one with
   * the fewest relays in flight first; the next one if it fails). Returns the bytes and who served them.
   */
  async function relayPiece(
    root: string,
    t: string | undefined,
    /**
     * The reader's request closing (it had its K pieces and aborted the rest): the wait ends and
     * nothing is counted as served, so the count holds only pieces handed to a reader still asking.
     */
    signal?: AbortSignal,
    /**
     * The reader's latest receipt for the server that served it this piece index before
     * (`x-plexus-receipt`), its signature already checked by the caller (storageRoutes.ts).
     */
    receipt?: RetrievalReceiptWire,
  ): Promise<{ bytes: Uint8Array; server: string; objectId: string }> {
    const g = liveGrant(t);
    if (g.kind !== 'read' || !g.roots.has(root))
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token does not cover this piece');
    const shown =
      receipt?.reader.toLowerCase() === g.reader && receipt.objectId.slice(2).toLowerCase() === g.objectId
        ? receipt
        : undefined;
    // A repair fetches each source once: its reads are charged to the object's owner, so a
    // repairer and a holder looping one piece through the relay cannot run up the owner's bill.
    if (g.orderId && orders.get(g.orderId)?.fetched.has(root))
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'this repair order fetched that piece already');
    // Only the granted object's pieces: a root depends on the bytes alone, so two objects that
    // share a segment share its roots, and a piece of another owner's object read through this
    // grant would be counted (and charged) as a read of that object (security review).
    const rows = await db
      .selectFrom('storage_pieces')
      .select(['holder', 'object_id', 'piece_bytes'])
      .where('root', '=', root)
      .where('object_id', '=', g.objectId)
      .where('status', '=', 'healthy')
      .execute();
    let last: unknown;
    let unpaid: unknown;
    for (const r of rows) {
      const s = r.holder ? sessions.get(r.holder) : undefined;
      if (!s) continue;
      if (signal?.aborted) break;
      const orderId = newId();
      const relayToken = token();
      let gone: (() => void) | undefined;
      // A reader owing this holder more than a piece gets no other from it until it shows a receipt
      // (relayOwed.ts); another holder of the same root may still serve. A repair's reads are the
      // coordinator's orders (each source once), receipted when the repair is done: not asked.
      const check = g.orderId
        ? undefined
        : async () => {
            const forward = await owed.assertPaid(g.reader, s.address, r.object_id, r.piece_bytes, shown);
            if (forward) s.send({ type: 'store.receipt', receipt: forward });
          };
      // PLX_STORAGE_READ_LIMIT goes to the reader as it is; counted now, given back unless delivered.
      try {
        await reserve(g.reader, s.address, r.object_id, r.piece_bytes, g.readLimitBytes, check);
      } catch (err) {
        if ((err as { code?: string }).code !== 'PLX_STORAGE_RECEIPT_REQUIRED') throw err;
        unpaid ??= err;
        continue;
      }
      let delivered = false;
      try {
        const bytes = await new Promise<Uint8Array>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error('holder did not serve in time')),
            cfg.relayTimeoutMs,
          );
          gone = () => {
            clearTimeout(timer);
            reject(new Error('the reader went away'));
          };
          signal?.addEventListener('abort', gone, { once: true });
          grants.set(relayToken, {
            kind: 'relay',
            orderId,
            holder: s.address,
            root,
            expiresAt: now() + cfg.relayTimeoutMs,
            resolve: (b) => {
              clearTimeout(timer);
              resolve(b);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          });
          if (!s.send({ type: 'store.serve', orderId, pieceRoot: root as Hex, token: relayToken }))
            reject(new Error('holder session closed'));
        });
        if (bytes.length !== r.piece_bytes) throw new Error(`holder sent ${bytes.length} bytes`);
        if (signal?.aborted) throw new Error('the reader went away');
        delivered = true;
        const order = g.orderId ? orders.get(g.orderId) : undefined;
        if (order) {
          order.fetched.add(root);
          // Kept in the store: a repair finished across a coordinator restart is still paid.
          await recordFetched(db, g.orderId!, [...order.fetched]);
        }
        return { bytes, server: s.address, objectId: r.object_id };
      } catch (err) {
        last = err;
        log.debug({ root, holder: s.address, err: String(err) }, 'relay from holder failed');
      } finally {
        if (gone) signal?.removeEventListener('abort', gone);
        grants.delete(relayToken);
        if (!delivered) await uncountServed(db, now(), g.reader, s.address, r.object_id, r.piece_bytes);
      }
    }
    if (unpaid) throw unpaid;
    throw new PlexusError('PLX_STORAGE_UNAVAILABLE', `no connected holder served piece ${root}`, {
      details: { holders: rows.length, last: String(last ?? 'none connected') },
    });
  }
  /** `POST /v1/storage/relay/:orderId`: a holder's bytes for a waiting reader. */
  function relayUpload(orderId: string, t: string | undefined, bytes: Uint8Array): void {
    const g = liveGrant(t);
    if (g.kind !== 'relay' || g.orderId !== orderId)
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token is for another order');
    grants.delete(t!);
    g.resolve(bytes);
  }

  return {
    relayPiece,
    relayUpload,
    /** A reader's receipt posted and forwarded (its signature checked): taken as paid by the relay. */
    sawReceipt: (receipt: RetrievalReceiptWire) => owed.see(receipt, true),
    /** The highest receipts the relay saw of `reader` for `objectId`, one per server. */
    seenReceipts: owed.seenFor,
  };
}
