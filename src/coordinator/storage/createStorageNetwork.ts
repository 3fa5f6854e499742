/**
 * The coordinator's side of the storage network (issue 19, docs/storage.md): which providers
 * offer disk, placing an object's pieces on them, relaying pieces from holders to readers,
 * challenging every healthy piece each window with a seed nobody knew in advance, recording faults
 * through the slash path, and repairing segments whose healthy pieces fell to the threshold.
 *
 * Pieces never stay on the coordinator: an upload is coded into a staging folder, each holder
 * fetches its piece with a one-order token, and the staging copy is deleted once every piece is
 * proven placed. Control goes over the provider's session; bytes over HTTP it opens itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { type StorageRequestMessage, storageRequestToWire } from '../../protocol/storageMessages.ts';
import { DEFAULT_ERASURE, type ObjectManifest } from '../../storage/erasure.ts';
import { createErasureThread, type ErasureThread } from '../../storage/erasureThread.ts';
import { termEscrow } from '../../storage/storagePrice.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import { inTransaction } from '../store/inTransaction.ts';
import type { Database } from '../store/schema.ts';
import { createChallenger } from './challengePieces.ts';
import { choosePlacement, chooseSegmentHolder, type PlacementCandidate } from './choosePlacement.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { assertWithinReadLimit, voidUnredeemed } from './countServed.ts';
import { createTicketIssuer } from './directTickets.ts';
import { dropPiece } from './dropPiece.ts';
import { createEnder } from './endObject.ts';
import { createGrantBook } from './grantBook.ts';
import { createOrderBook, newOrder, orderFetched } from './orderProof.ts';
import { createRepairer } from './orderRepair.ts';
import { sweepPlacing } from './placingSweep.ts';
import { pricePut } from './pricePut.ts';
import { createRelay } from './relayPieces.ts';
import { paidRepair, storedRepairDone } from './repairPaid.ts';
import { assertErasureShape, assertUploader } from './storageGuards.ts';
import { holdTerm } from './storageLedger.ts';
import type { StorageMoney, StorageSession } from './storageNetworkTypes.ts';
import { type PieceStatus, type StorageDatabase, storageDb } from './storageTables.ts';
import { listObjects, objectStatus, pieceViews } from './storageViews.ts';
import { otherReaderMay, resignPut } from './unsignedObjects.ts';

export type StorageNetwork = ReturnType<typeof createStorageNetwork>;

type Config = typeof STORAGE_DEFAULTS;

/**
 * @example
 * const storage = createStorageNetwork({ db, blobs, dataDir, log, seedOf });
 * storage.start(); // challenge windows
 */
export function createStorageNetwork(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  dataDir: string;
  log: Logger;
  /** The unpredictable seed of a challenge window (a block hash after it opened, or the audit seed). */
  seedOf: (window: number) => Promise<{ seed: Hex; source: string }>;
  config?: Partial<Config>;
  now?: () => number;
  /** Escrow of stored terms (the market's admission): absent in unit tests, which hold nothing. */
  money?: StorageMoney;
  /** Where puts are coded (off the event loop); one thread of its own when absent. */
  coder?: ErasureThread;
}) {
  const cfg: Config = { ...STORAGE_DEFAULTS, ...deps.config };
  const db: Kysely<StorageDatabase> = storageDb(deps.db);
  const log = deps.log.child({ component: 'storage' });
  const now = deps.now ?? Date.now;
  const staging = join(deps.dataDir, 'storage-staging');
  const sessions = new Map<string, StorageSession>();
  const grants = createGrantBook({ now });
  /**
   * Open orders to keep a piece: order id → the piece (put or repair), its grant's token, and the
   * pieces the holder fetched for it: `store.stored` counts only after `need` of them (orderProof.ts).
   */
  const orders = createOrderBook((t) => grants.delete(t));
  const coder = deps.coder ?? createErasureThread();
  let sweepTimer: NodeJS.Timeout | undefined;

  const token = () => randomBytes(32).toString('hex');
  /** What paying a repair needs (repairPaid.ts). */
  const payDeps = { db, money: deps.money, now, log, pricePerByte: cfg.pricePerByte };
  const newId = () => randomBytes(16).toString('hex');
  const stagingPath = (objectId: string, segment: number, idx: number) =>
    join(staging, objectId, `${segment}-${idx}.piece`);

  async function manifestOf(objectId: string): Promise<ObjectManifest> {
    const row = await db
      .selectFrom('storage_objects')
      .select('manifest')
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (!row) throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId}`);
    return JSON.parse(row.manifest) as ObjectManifest;
  }

  async function setPiece(
    objectId: string,
    segment: number,
    idx: number,
    set: { status: PieceStatus; holder?: string | null; order_id?: string | null },
  ): Promise<void> {
    await db
      .updateTable('storage_pieces')
      .set({ ...set, updated_at: now() })
      .where('object_id', '=', objectId)
      .where('segment', '=', segment)
      .where('idx', '=', idx)
      .execute();
  }

  /** Sends the order to keep one piece (from staging on upload) to its holder, if connected. */
  async function orderPut(p: {
    object_id: string;
    segment: number;
    idx: number;
    root: string;
    piece_bytes: number;
    holder: string;
    /** The piece's order before this one (a re-send): ended first, so no order is left behind. */
    order_id?: string | null;
  }) {
    const s = sessions.get(p.holder);
    if (!s) return;
    orders.drop(p.order_id);
    const manifest = await manifestOf(p.object_id);
    const orderId = newId();
    const t = token();
    const expiresAt = now() + cfg.orderTtlMs;
    const path = stagingPath(p.object_id, p.segment, p.idx);
    grants.set(t, { kind: 'put', orderId, holder: p.holder, path, expiresAt });
    orders.set(orderId, newOrder({ ...p, objectId: p.object_id, token: t, need: 1, expiresAt }));
    await setPiece(p.object_id, p.segment, p.idx, { status: 'pending', order_id: orderId });
    s.send({
      type: 'store.put',
      orderId,
      pieceRoot: p.root as Hex,
      pieceBytes: p.piece_bytes,
      leafBytes: manifest.leafBytes,
      token: t,
    });
  }

  /** Connected holders (address, claimed region and free space, network prefix). */
  const candidates = (): PlacementCandidate[] => [...sessions.values()];

  /** Holders (current or being placed) of any piece of an object, or of one of its segments. */
  async function holdersOf(objectId: string, segment?: number): Promise<Set<string>> {
    let q = db
      .selectFrom('storage_pieces')
      .select('holder')
      .where('object_id', '=', objectId)
      .where('status', 'in', ['pending', 'healthy', 'repairing']);
    if (segment !== undefined) q = q.where('segment', '=', segment);
    return new Set((await q.execute()).flatMap((r) => (r.holder ? [r.holder] : [])));
  }

  /** Another holder for a piece of `segment` (chooseSegmentHolder), if anyone has room. */
  async function holderElsewhere(p: { object_id: string; segment: number; piece_bytes: number }) {
    const [ofObject, ofSegment] = await Promise.all([
      holdersOf(p.object_id),
      holdersOf(p.object_id, p.segment),
    ]);
    return chooseSegmentHolder(candidates(), p.piece_bytes, ofObject, ofSegment);
  }

  /** Marks pieces healthy that a reconnecting holder says it has; re-sends its unfinished orders. */
  async function providerConnected(s: Omit<StorageSession, 'freeBytes'>): Promise<void> {
    sessions.set(s.address, { ...s, freeBytes: s.offer.freeBytes });
    const pending = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('holder', '=', s.address)
      .where('status', 'in', ['pending', 'repairing'])
      .execute();
    const held = new Set(s.offer.pieces);
    await dropOrphans(s.address, held);
    for (const p of pending) {
      // A repair it finished (around a restart, say): paid from the stored order, once, when that
      // order fetched its K sources (repairPaid.ts); a piece it could not have rebuilt is not kept.
      if (held.has(p.root as Hex) && p.status === 'repairing') {
        const done = await storedRepairDone(payDeps, p.order_id ?? '', s.address).catch((err: unknown) => {
          log.error({ orderId: p.order_id, err: String(err) }, 'paying a repair failed');
          return undefined;
        });
        orders.drop(p.order_id);
        if (done) await pieceStored(p.object_id, p.segment, p.idx);
        else {
          await setPiece(p.object_id, p.segment, p.idx, { status: 'lost', holder: null, order_id: null });
          await dropPiece(db, s, s.address, p.root);
        }
      } else if (held.has(p.root as Hex)) await pieceStored(p.object_id, p.segment, p.idx);
      // A repair order this coordinator no longer knows (it restarted): lost again, so the next
      // window orders its repair anew.
      else if (p.status === 'repairing') {
        if (!orders.has(p.order_id ?? ''))
          await setPiece(p.object_id, p.segment, p.idx, { status: 'lost', holder: null, order_id: null });
      } else
        await orderPut({ ...p, holder: s.address }).catch((err) =>
          log.warn({ err: String(err) }, 'resend failed'),
        );
    }
  }

  /**
   * Tells a holder to drop pieces it keeps that no object here puts on it (an order ended while it
   * was fetching, a repair ordered anew after a restart): a piece is never kept, or paid, twice.
   */
  async function dropOrphans(holder: string, roots: Iterable<string>): Promise<void> {
    const mine = await db
      .selectFrom('storage_pieces')
      .select('root')
      .where('holder', '=', holder)
      .where('status', 'in', ['pending', 'healthy', 'repairing'])
      .execute();
    const keep = new Set(mine.map((r) => r.root));
    for (const root of roots)
      if (!keep.has(root)) {
        sessions.get(holder)?.send({ type: 'store.drop', pieceRoot: root as Hex });
        log.info({ holder, root }, 'told a holder to drop a piece no object puts on it');
      }
  }

  /** Orders a pending piece to another holder, or again to its own when nobody else has room. */
  async function replacePiece(piece: StorageDatabase['storage_pieces']): Promise<void> {
    const holder = (await holderElsewhere(piece)) ?? piece.holder;
    if (!holder) return;
    await setPiece(piece.object_id, piece.segment, piece.idx, { status: 'pending', holder });
    await orderPut({ ...piece, holder });
  }

  /** Forgets a closed session (not a newer one the provider opened meanwhile). */
  function providerDisconnected(address: string, send?: StorageSession['send']): void {
    const s = sessions.get(address);
    if (s && (send === undefined || s.send === send)) sessions.delete(address);
  }

  async function pieceStored(objectId: string, segment: number, idx: number): Promise<void> {
    await setPiece(objectId, segment, idx, { status: 'healthy', order_id: null });
    const open = await db
      .selectFrom('storage_pieces')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('object_id', '=', objectId)
      .where('status', '!=', 'healthy')
      .executeTakeFirstOrThrow();
    if (Number(open.n) === 0) {
      const o = await db
        .updateTable('storage_objects')
        .set({ status: 'stored', updated_at: now() })
        .where('object_id', '=', objectId)
        .where('status', '=', 'placing')
        .executeTakeFirst();
      if (Number(o.numUpdatedRows) > 0) {
        await rm(join(staging, objectId), { recursive: true, force: true });
        log.info({ objectId }, 'object stored: every piece placed, staging copy deleted');
      }
    }
  }

  /** Handles `store.stored` / `store.refused` from a holder. */
  async function orderDone(
    from: string,
    orderId: string,
    said: boolean,
    saidWhy?: string,
    root?: string,
  ): Promise<void> {
    const o = orders.get(orderId);
    // A repair this process does not hold in memory (it restarted since it was ordered): paid and
    // counted from the order kept in the store, when that order fetched its K sources.
    if (!o && said) {
      const piece = await db
        .selectFrom('storage_pieces')
        .select(['object_id', 'segment', 'idx'])
        .where('order_id', '=', orderId)
        .where('holder', '=', from)
        .where('status', '=', 'repairing')
        .executeTakeFirst();
      const done = piece ? await storedRepairDone(payDeps, orderId, from) : undefined;
      if (done) return void (await pieceStored(done.objectId, done.segment, done.idx));
    }
    // Unknown, finished, or not theirs: ignored, and a piece kept for an order that ended is dropped.
    if (!o || o.holder !== from) return void (said && root ? await dropOrphans(from, [root]) : undefined);
    grants.delete(o.token);
    // A holder saying it stored a piece it never fetched (nor the sources to rebuild it): failed.
    const ok = said && orderFetched(o);
    const why = said && !ok ? `stored without fetching (${o.fetched.size}/${o.need})` : saidWhy;
    // Known until the piece is healthy: a window meanwhile must not take its repair for forgotten.
    // A repair is paid (from the object's hold) before its piece counts as healthy: repairPaid.ts.
    // A payment that fails is logged and never blocks the repaired piece.
    if (ok)
      return void (await paidRepair(payDeps, orderId, o)
        .catch((err: unknown) => log.error({ orderId, err: String(err) }, 'paying a repair failed'))
        .then(() => pieceStored(o.objectId, o.segment, o.idx))
        .finally(() => orders.drop(orderId)));
    orders.drop(orderId);
    log.warn({ orderId, holder: from, why }, 'a holder refused a piece; placing it elsewhere');
    const piece = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .where('object_id', '=', o.objectId)
      .where('segment', '=', o.segment)
      .where('idx', '=', o.idx)
      .executeTakeFirst();
    if (!piece) return;
    const wasRepair = piece.status === 'repairing';
    await setPiece(o.objectId, o.segment, o.idx, {
      status: wasRepair ? 'lost' : 'pending',
      holder: wasRepair ? null : from,
      order_id: null,
    });
    if (wasRepair) return;
    // Elsewhere if anyone has room; otherwise the sweep tries again after `placeTimeoutMs`.
    if (await holderElsewhere(piece)) await replacePiece({ ...piece, order_id: null });
  }

  /** A client's signed put: code the blob, place every piece on a distinct provider. */
  async function put(
    req: StorageRequestMessage,
    /** The client's signature of `req`: kept with the object as the evidence of who owns it. */
    signature?: Hex,
  ): Promise<{ objectId: string; status: string; resigned?: true }> {
    const objectId = req.objectId.slice(2);
    const client = req.client.toLowerCase();
    // First: a signer that did not upload the blob learns nothing of it, stored or not (no oracle).
    await assertUploader(deps.db, objectId, client);
    const existing = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (existing && existing.status !== 'removed' && existing.status !== 'failed') {
      if (existing.client !== client)
        throw new PlexusError('PLX_STORAGE_NOT_OWNER', 'another client stores this object');
      return resignPut(db, existing, req, signature);
    }
    const size = await deps.blobs.size(objectId);
    if (size === undefined)
      throw new PlexusError('PLX_UNKNOWN_BLOB', `upload the file first (PUT /v1/blobs/${objectId})`);
    const k = req.dataPieces || DEFAULT_ERASURE.dataPieces;
    const m = req.parityPieces || DEFAULT_ERASURE.parityPieces;
    assertErasureShape(k, m);
    const params = { ...DEFAULT_ERASURE, dataPieces: k, parityPieces: m, segmentBytes: cfg.segmentBytes };
    const segments = Math.max(1, Math.ceil(size / params.segmentBytes));
    const perHolder = segments * Math.max(1, Math.ceil(Math.min(size, params.segmentBytes) / k));
    const holders = choosePlacement(candidates(), k + m, perHolder);
    if (holders.length < k + m)
      throw new PlexusError('PLX_STORAGE_NO_CAPACITY', `needs ${k + m} storage providers with room`, {
        details: { needed: k + m, available: holders.length },
      });
    const epochs = req.epochs || cfg.defaultEpochs;
    // Priced by supply and demand; the offers and floor travel in the hold (pricePut.ts).
    const { price, pricing } = pricePut(cfg.pricePerGiBEpoch, [...sessions.values()], req);
    // The whole term (and a repair round's reserve) is held from the client's escrow; refused before
    // any coding when it cannot be.
    const escrow = termEscrow({
      ...{ objectBytes: size, k, m, segmentBytes: params.segmentBytes, price, epochs },
      pricePerByte: cfg.pricePerByte,
    });
    await deps.money?.check(client, escrow);
    // Coded in the erasure thread: the event loop keeps serving sessions meanwhile.
    const { manifest, pieces } = await coder.encode(await deps.blobs.read(objectId), params, true);
    if (manifest.objectId !== `0x${objectId}`)
      throw new PlexusError('PLX_DIGEST_MISMATCH', 'blob does not hash to its id');
    await mkdir(join(staging, objectId), { recursive: true });
    for (const [s, seg] of pieces.entries())
      for (const [i, piece] of seg.entries()) await writeFile(stagingPath(objectId, s, i), piece);
    const t = now();
    const startEpoch = (await deps.money?.epochNow())?.epoch ?? 0;
    const insert = (given?: Transaction<StorageDatabase>) =>
      inTransaction(db, given, async (trx) => {
        await trx.deleteFrom('storage_pieces').where('object_id', '=', objectId).execute();
        await trx.deleteFrom('storage_objects').where('object_id', '=', objectId).execute();
        await voidUnredeemed(trx, objectId, t);
        await trx
          .insertInto('storage_objects')
          .values({
            object_id: objectId,
            client,
            object_bytes: size,
            data_pieces: k,
            parity_pieces: m,
            manifest: JSON.stringify(manifest),
            epochs,
            price_per_gib_epoch: price.toString(),
            escrow: escrow.toString(),
            start_epoch: startEpoch,
            status: 'placing',
            created_at: t,
            updated_at: t,
            put_request: signature ? JSON.stringify(storageRequestToWire(req, signature)) : null,
          })
          .execute();
        for (const [s, seg] of manifest.segments.entries())
          for (const [i, root] of seg.pieceRoots.entries())
            await trx
              .insertInto('storage_pieces')
              .values({
                object_id: objectId,
                segment: s,
                idx: i,
                root,
                piece_bytes: seg.pieceBytes,
                holder: holders[i]!,
                status: 'pending',
                order_id: null,
                updated_at: t,
              })
              .execute();
        const owner = signature ? storageRequestToWire(req, signature) : undefined;
        const evidence = { pricing, ...(owner ? { owner } : {}) };
        await holdTerm(trx, { object_id: objectId, client, created_at: t }, escrow, startEpoch, t, evidence);
      });
    try {
      await (deps.money ? deps.money.admit(client, escrow, insert) : insert(undefined));
    } catch (err) {
      await rm(join(staging, objectId), { recursive: true, force: true });
      throw err;
    }
    for (const h of holders) {
      const s = sessions.get(h);
      if (s) s.freeBytes -= perHolder;
    }
    for (const [s, seg] of manifest.segments.entries())
      for (const [i, root] of seg.pieceRoots.entries())
        await orderPut({
          object_id: objectId,
          segment: s,
          idx: i,
          root,
          piece_bytes: seg.pieceBytes,
          holder: holders[i]!,
        });
    log.info({ objectId, bytes: size, k, m, holders }, 'object coded and placed');
    return { objectId, status: 'placing' };
  }

  /** A read grant: the manifest, where each piece is, and a token for `GET /v1/storage/pieces/:root`. */
  async function grantRead(reader: string, objectId: string) {
    const o = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    // The owner, or a provider running a task of the owner's job whose model this is (jobReads.ts);
    // anyone else is told the same whether the object exists or not (no existence oracle).
    const may = o && (o.client === reader.toLowerCase() || (await otherReaderMay(deps.db, reader, o)));
    if (!o || o.status === 'removed' || o.status === 'failed' || !may)
      throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId} this account may read`);
    const manifest = JSON.parse(o.manifest) as ObjectManifest;
    const t = token();
    const roots = new Set(manifest.segments.flatMap((s) => s.pieceRoots as string[]));
    const expiresAt = now() + cfg.readGrantTtlMs;
    // Another reader's bytes are the owner's bill: at most a few whole reads of the coded object.
    const coded = manifest.segments.reduce((a, s) => a + s.pieceBytes * s.pieceRoots.length, 0);
    const limit = o.client === reader.toLowerCase() ? undefined : cfg.modelReadsPerReader * coded;
    if (limit !== undefined) await assertWithinReadLimit(db, reader.toLowerCase(), objectId, limit, 1);
    grants.setRead(t, {
      kind: 'read',
      reader: reader.toLowerCase(),
      objectId,
      roots,
      expiresAt,
      ...(limit === undefined ? {} : { readLimitBytes: limit }),
    });
    // Which holders serve directly now: the reader asks tickets only for their pieces.
    const direct = (h: string | null) => (h ? sessions.get(h)?.offer.serveUrl !== undefined : false);
    const pieces = (await pieceViews(db, objectId)).map((p) => ({ ...p, direct: direct(p.holder) }));
    return { manifest, token: t, expiresAt, pieces };
  }

  const liveGrant = grants.live;

  /** `GET /v1/storage/orders/:orderId/piece`: the staged piece a holder was ordered to keep. */
  async function stagedPiece(orderId: string, t: string | undefined): Promise<Uint8Array> {
    const g = liveGrant(t);
    if (g.kind !== 'put' || g.orderId !== orderId)
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token is for another order');
    const bytes = new Uint8Array(await readFile(g.path));
    orders.get(orderId)?.fetched.add('staged');
    return bytes;
  }

  const relay = createRelay({ db, log, now, cfg, grants, orders, sessions });
  /** `POST /v1/storage/tickets/:root`: a direct server of the piece and its ticket (directTickets.ts). */
  const issueTicket = createTicketIssuer({ db, now, cfg, grants, sessions });

  const challenger = createChallenger({
    db,
    log,
    cfg,
    now,
    seedOf: deps.seedOf,
    session: (a) => sessions.get(a),
    onLost: (objectId, segment) => maybeRepair(objectId, segment),
    // Open in memory, or in the store and not lapsed (its holder may still report it done).
    orderKnown: async (orderId) =>
      orders.has(orderId) ||
      ((
        await db
          .selectFrom('storage_repair_orders')
          .select('expires_at')
          .where('order_id', '=', orderId)
          .executeTakeFirst()
      )?.expires_at ?? 0) > now(),
  });

  const maybeRepair = createRepairer({
    db,
    log,
    now,
    orderTtlMs: cfg.orderTtlMs,
    grants,
    orders,
    session: (a) => sessions.get(a),
    candidates,
    holdersOf,
  });

  /** Removes an object: holders are told to drop their pieces; the unused escrow is released. */
  async function remove(client: string, objectId: string): Promise<{ refund: bigint }> {
    const o = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    // Another account is told the same whether the object exists or not (no existence oracle).
    if (!o || o.status === 'removed' || o.status === 'failed' || o.client !== client.toLowerCase())
      throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId} of this account`);
    return { refund: await endObject(o, 'removed') };
  }

  /** Ends an object: pieces dropped, orders ended, holders paid, the rest released (endObject.ts). */
  const endObject = createEnder({ db, money: deps.money, now, orders, sessions, staging });

  /** One sweep of stalled orders and uploads (placingSweep.ts); the timer runs it every `sweepMs`. */
  const sweep = () =>
    sweepPlacing({
      db,
      orders,
      now,
      cfg,
      replace: replacePiece,
      connected: (a) => sessions.has(a),
      log,
      fail: async (objectId) => {
        const o = await db
          .selectFrom('storage_objects')
          .selectAll()
          .where('object_id', '=', objectId)
          .where('status', '=', 'placing')
          .executeTakeFirst();
        if (o) await endObject(o, 'failed');
      },
    });

  return {
    providerConnected,
    providerDisconnected,
    orderDone,
    handleAnswer: challenger.handleAnswer,
    put,
    grantRead,
    stagedPiece,
    ...relay,
    issueTicket,
    remove,
    list: (client: string) => listObjects(db, client),
    status: (objectId: string) => objectStatus(db, objectId),
    /** Opens challenge windows every `windowMs` (and retries repairs); sweeps stalled orders every `sweepMs`. */
    start() {
      challenger.start();
      sweepTimer = setInterval(() => {
        void sweep().catch((err: unknown) => log.error({ err: String(err) }, 'storage sweep failed'));
      }, cfg.sweepMs);
    },
    stop() {
      challenger.stop();
      clearInterval(sweepTimer);
      if (!deps.coder) void coder.close();
      for (const g of grants.values()) if (g.kind === 'relay') g.reject(new Error('coordinator stopping'));
    },
    /** Runs one challenge window now (tests, and the timer). */
    runWindow: challenger.runWindow,
    sessions: () => [...sessions.values()],
    /** Live grants held (tests). */
    grantCount: grants.size,
    /** Open orders held (tests). */
    orderCount: orders.size,
    /** Runs one sweep of stalled orders now (tests, and the timer). */
    sweep,
  };
}
