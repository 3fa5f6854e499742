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
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type { StorageRequestMessage } from '../../protocol/storageMessages.ts';
import { DEFAULT_ERASURE, encodeObject, type ObjectManifest } from '../../storage/erasure.ts';
import { termEscrow } from '../../storage/storagePrice.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { Database } from '../store/schema.ts';
import { createChallenger } from './challengePieces.ts';
import { choosePlacement, repairThreshold } from './choosePlacement.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { countServed } from './countServed.ts';
import { createGrantBook } from './grantBook.ts';
import { newOrder, orderFetched, type StorageOrder } from './orderProof.ts';
import { assertErasureShape, assertUploader } from './storageGuards.ts';
import { holdTerm, settleRemoval } from './storageLedger.ts';
import type { StorageMoney, StorageSession } from './storageNetworkTypes.ts';
import { type PieceStatus, type StorageDatabase, storageDb } from './storageTables.ts';
import { listObjects, objectStatus, pieceViews } from './storageViews.ts';

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
  const orders = new Map<string, StorageOrder>();

  const token = () => randomBytes(32).toString('hex');
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
  }) {
    const s = sessions.get(p.holder);
    if (!s) return;
    const manifest = await manifestOf(p.object_id);
    const orderId = newId();
    const t = token();
    grants.set(t, {
      kind: 'put',
      orderId,
      holder: p.holder,
      path: stagingPath(p.object_id, p.segment, p.idx),
      expiresAt: now() + cfg.orderTtlMs,
    });
    orders.set(orderId, newOrder({ ...p, objectId: p.object_id, token: t, need: 1 }));
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

  const candidates = () =>
    [...sessions.values()].map((s) => ({ address: s.address, region: s.region, freeBytes: s.freeBytes }));

  /** Holders (current or being placed) of any piece of an object. */
  async function holdersOf(objectId: string): Promise<Set<string>> {
    const rows = await db
      .selectFrom('storage_pieces')
      .select('holder')
      .where('object_id', '=', objectId)
      .where('status', 'in', ['pending', 'healthy', 'repairing'])
      .execute();
    return new Set(rows.flatMap((r) => (r.holder ? [r.holder] : [])));
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
    for (const p of pending) {
      if (held.has(p.root as Hex)) await pieceStored(p.object_id, p.segment, p.idx);
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
  async function orderDone(from: string, orderId: string, said: boolean, saidWhy?: string): Promise<void> {
    const o = orders.get(orderId);
    if (!o || o.holder !== from) return; // unknown, finished, or not theirs: ignored
    grants.delete(o.token);
    // A holder saying it stored a piece it never fetched (nor the sources to rebuild it): failed.
    const ok = said && orderFetched(o);
    const why = said && !ok ? `stored without fetching (${o.fetched.size}/${o.need})` : saidWhy;
    // Known until the piece is healthy: a window meanwhile must not take its repair for forgotten.
    if (ok)
      return void (await pieceStored(o.objectId, o.segment, o.idx).finally(() => orders.delete(orderId)));
    orders.delete(orderId);
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
    if (!wasRepair) {
      const exclude = await holdersOf(o.objectId);
      const [next] = choosePlacement(candidates(), 1, piece.piece_bytes, exclude);
      if (next) {
        await setPiece(o.objectId, o.segment, o.idx, { status: 'pending', holder: next });
        await orderPut({ ...piece, holder: next });
      }
    }
  }

  /** A client's signed put: code the blob, place every piece on a distinct provider. */
  async function put(req: StorageRequestMessage): Promise<{ objectId: string; status: string }> {
    const objectId = req.objectId.slice(2);
    const client = req.client.toLowerCase();
    const existing = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (existing && existing.status !== 'removed') {
      if (existing.client !== client)
        throw new PlexusError('PLX_STORAGE_NOT_OWNER', 'another client stores this object');
      return { objectId, status: existing.status };
    }
    const size = await deps.blobs.size(objectId);
    if (size === undefined)
      throw new PlexusError('PLX_UNKNOWN_BLOB', `upload the file first (PUT /v1/blobs/${objectId})`);
    await assertUploader(deps.db, objectId, client);
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
    const price = cfg.pricePerGiBEpoch;
    if (req.maxPricePerGiBEpoch > 0n && req.maxPricePerGiBEpoch < price)
      throw new PlexusError('PLX_STORAGE_PRICE_ABOVE_MAX', `storage costs ${price} per GiB-epoch`, {
        details: { pricePerGiBEpoch: price.toString() },
      });
    // The whole term is held from the client's escrow; refused before any coding when it cannot be.
    const escrow = termEscrow({ objectBytes: size, k, m, segmentBytes: params.segmentBytes, price, epochs });
    await deps.money?.check(client, escrow);
    const { manifest, pieces } = encodeObject(await deps.blobs.read(objectId), params);
    if (manifest.objectId !== `0x${objectId}`)
      throw new PlexusError('PLX_DIGEST_MISMATCH', 'blob does not hash to its id');
    await mkdir(join(staging, objectId), { recursive: true });
    for (const [s, seg] of pieces.entries())
      for (const [i, piece] of seg.entries()) await writeFile(stagingPath(objectId, s, i), piece);
    const t = now();
    const startEpoch = (await deps.money?.epochNow())?.epoch ?? 0;
    const insert = () =>
      db.transaction().execute(async (trx) => {
        await trx.deleteFrom('storage_pieces').where('object_id', '=', objectId).execute();
        await trx.deleteFrom('storage_objects').where('object_id', '=', objectId).execute();
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
        await holdTerm(trx, { object_id: objectId, client, created_at: t }, escrow, startEpoch, t);
      });
    try {
      await (deps.money ? deps.money.admit(client, escrow, insert) : insert());
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
    if (!o || o.status === 'removed') throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId}`);
    if (o.client !== reader.toLowerCase())
      throw new PlexusError('PLX_STORAGE_NOT_OWNER', 'only the owner reads this object');
    const manifest = JSON.parse(o.manifest) as ObjectManifest;
    const t = token();
    const roots = new Set(manifest.segments.flatMap((s) => s.pieceRoots as string[]));
    const expiresAt = now() + cfg.readGrantTtlMs;
    grants.setRead(t, { kind: 'read', reader: reader.toLowerCase(), objectId, roots, expiresAt });
    return { manifest, token: t, expiresAt, pieces: await pieceViews(db, objectId) };
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

  /**
   * `GET /v1/storage/pieces/:root`: a piece relayed from a healthy, connected holder (the one with
   * the fewest relays in flight first; the next one if it fails). Returns the bytes and who served them.
   */
  async function relayPiece(
    root: string,
    t: string | undefined,
  ): Promise<{ bytes: Uint8Array; server: string; objectId: string }> {
    const g = liveGrant(t);
    if (g.kind !== 'read' || !g.roots.has(root))
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token does not cover this piece');
    const rows = await db
      .selectFrom('storage_pieces')
      .select(['holder', 'object_id', 'piece_bytes'])
      .where('root', '=', root)
      .where('status', '=', 'healthy')
      .execute();
    let last: unknown;
    for (const r of rows) {
      const s = r.holder ? sessions.get(r.holder) : undefined;
      if (!s) continue;
      const orderId = newId();
      const relayToken = token();
      try {
        const bytes = await new Promise<Uint8Array>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error('holder did not serve in time')),
            cfg.relayTimeoutMs,
          );
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
          relays.set(orderId, relayToken);
          if (!s.send({ type: 'store.serve', orderId, pieceRoot: root as Hex, token: relayToken }))
            reject(new Error('holder session closed'));
        });
        if (bytes.length !== r.piece_bytes) throw new Error(`holder sent ${bytes.length} bytes`);
        await countServed(db, now(), g.reader, s.address, r.object_id, bytes.length);
        if (g.orderId) orders.get(g.orderId)?.fetched.add(root);
        return { bytes, server: s.address, objectId: r.object_id };
      } catch (err) {
        last = err;
        log.debug({ root, holder: s.address, err: String(err) }, 'relay from holder failed');
      } finally {
        grants.delete(relayToken);
        relays.delete(orderId);
      }
    }
    throw new PlexusError('PLX_STORAGE_UNAVAILABLE', `no connected holder served piece ${root}`, {
      details: { holders: rows.length, last: String(last ?? 'none connected') },
    });
  }
  const relays = new Map<string, string>();

  /** `POST /v1/storage/relay/:orderId`: a holder's bytes for a waiting reader. */
  function relayUpload(orderId: string, t: string | undefined, bytes: Uint8Array): void {
    const g = liveGrant(t);
    if (g.kind !== 'relay' || g.orderId !== orderId)
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token is for another order');
    grants.delete(t!);
    g.resolve(bytes);
  }

  const challenger = createChallenger({
    db,
    log,
    cfg,
    now,
    seedOf: deps.seedOf,
    session: (a) => sessions.get(a),
    onLost: (objectId, segment) => maybeRepair(objectId, segment),
    orderKnown: (orderId) => orders.has(orderId),
  });

  /** Starts repair orders for a segment whose healthy pieces fell to its threshold. */
  async function maybeRepair(objectId: string, segment: number): Promise<void> {
    const o = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (!o || o.status === 'removed') return;
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
    const exclude = await holdersOf(objectId);
    // Nor back to a holder of this segment that lost its piece.
    for (const p of pieces) if (p.holder) exclude.add(p.holder);
    for (const p of pieces.filter((x) => x.status === 'lost')) {
      const [holder] = choosePlacement(candidates(), 1, p.piece_bytes, exclude);
      if (!holder) {
        log.warn({ objectId, segment, idx: p.idx }, 'no provider free to take a repaired piece; will retry');
        continue;
      }
      exclude.add(holder);
      const s = sessions.get(holder)!;
      s.freeBytes -= p.piece_bytes;
      const orderId = newId();
      const t = token();
      grants.set(t, {
        kind: 'read',
        orderId,
        reader: holder,
        objectId,
        roots: new Set(healthy.map((h) => h.root)),
        expiresAt: now() + cfg.orderTtlMs,
      });
      orders.set(orderId, newOrder({ objectId, segment, idx: p.idx, holder, token: t, need: o.data_pieces }));
      await setPiece(objectId, segment, p.idx, { status: 'repairing', holder, order_id: orderId });
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
      });
      log.info({ objectId, segment, idx: p.idx, holder }, 'repair ordered');
    }
  }

  /** Removes an object: holders are told to drop their pieces; the unused escrow is released. */
  async function remove(client: string, objectId: string): Promise<{ refund: bigint }> {
    const o = await db
      .selectFrom('storage_objects')
      .selectAll()
      .where('object_id', '=', objectId)
      .executeTakeFirst();
    if (!o || o.status === 'removed') throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId}`);
    if (o.client !== client.toLowerCase())
      throw new PlexusError('PLX_STORAGE_NOT_OWNER', 'only the owner removes this object');
    const pieces = await pieceViews(db, objectId);
    const w = await deps.money?.epochNow();
    const refund = await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('storage_objects')
        .set({ status: 'removed', updated_at: now() })
        .where('object_id', '=', objectId)
        .execute();
      await trx
        .updateTable('storage_pieces')
        .set({ status: 'dropped', updated_at: now() })
        .where('object_id', '=', objectId)
        .execute();
      if (!w) return 0n;
      const windows = [...(w.unclosed ? [w.unclosed] : []), { epoch: w.epoch, from: w.from, to: now() }];
      return settleRemoval(trx, o, windows, w.epoch, now());
    });
    for (const p of pieces)
      if (p.holder) sessions.get(p.holder)?.send({ type: 'store.drop', pieceRoot: p.root as Hex });
    await rm(join(staging, objectId), { recursive: true, force: true });
    return { refund };
  }

  return {
    providerConnected,
    providerDisconnected,
    orderDone,
    handleAnswer: challenger.handleAnswer,
    put,
    grantRead,
    stagedPiece,
    relayPiece,
    relayUpload,
    remove,
    list: (client: string) => listObjects(db, client),
    status: (objectId: string) => objectStatus(db, objectId),
    /** Opens challenge windows every `windowMs` (and retries repairs). */
    start() {
      challenger.start();
    },
    stop() {
      challenger.stop();
      for (const g of grants.values()) if (g.kind === 'relay') g.reject(new Error('coordinator stopping'));
    },
    /** Runs one challenge window now (tests, and the timer). */
    runWindow: challenger.runWindow,
    sessions: () => [...sessions.values()],
    /** Live grants held (tests). */
    grantCount: grants.size,
  };
}
