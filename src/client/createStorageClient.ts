/**
 * The storage part of the SDK (issue 19, docs/storage.md): put a file on the network (it is
 * erasure-coded onto providers' disks), get it back (the fastest K pieces of each segment, each
 * checked against its Merkle root before decoding), list, inspect and remove stored objects.
 *
 * @example
 * const store = createStorageClient({ url, account });
 * const { objectId } = await store.put('model.onnx', { dataPieces: 4, parityPieces: 2 });
 * const bytes = await store.get(objectId);
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LocalAccount } from 'viem';
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../protocol/eip712.ts';
import {
  type RetrievalReceiptWire,
  type StorageRequestMessage,
  signStorageRequest,
} from '../protocol/storageMessages.ts';
import { decodeObject, type ObjectManifest } from '../storage/erasure.ts';
import { fetchPieces } from '../storage/fetchPieces.ts';
import { createReceiptSigner } from '../storage/receiptSigner.ts';

/** Where each piece of an object is and how it is. */
export type StoredPieceView = {
  segment: number;
  index: number;
  root: string;
  holder: string | null;
  status: string;
  /** In a read grant: its holder serves directly now (`--serve-address`). */
  direct?: boolean;
};

/** `plexus store status`: an object, its pieces and their health. */
export type StoredObjectView = {
  objectId: string;
  /** The latest challenge window opened on the network. */
  lastWindow: number;
  client: string;
  bytes: number;
  dataPieces: number;
  parityPieces: number;
  status: 'placing' | 'stored' | 'removed';
  epochs: number;
  pricePerGiBEpoch: string;
  escrow: string;
  healthy: number;
  repairThreshold: number;
  pieces: StoredPieceView[];
  faults: { segment: number; index: number; provider: string; window: number; reason: string; at: number }[];
};

export type StorageClient = ReturnType<typeof createStorageClient>;

/**
 * @example const store = createStorageClient({ url: 'http://127.0.0.1:8080', account });
 */
export function createStorageClient(opts: {
  url: string;
  account: LocalAccount;
  chainId?: number;
  fetch?: typeof fetch;
}) {
  const base = opts.url.replace(/\/+$/, '');
  const f = opts.fetch ?? fetch;
  let chainId = opts.chainId;
  /** Signed cumulative receipts, per server and object: what each server has served this reader. */
  const receipts = createReceiptSigner({ account: opts.account, chainId: () => chain(), fetch: f });
  /** Pieces read from holders' own servers (direct serving) so far. */
  let directPieces = 0;

  async function json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await f(`${base}${path}`, init);
    if (!res.ok) throw await errorFromResponse(res);
    return (await res.json()) as T;
  }
  async function chain(): Promise<number> {
    chainId ??= (await json<{ chainId: number }>('/v1/health')).chainId;
    return chainId;
  }
  async function request<T>(
    r: Partial<Omit<StorageRequestMessage, 'client'>> & Pick<StorageRequestMessage, 'action'>,
  ): Promise<T> {
    const body = await signStorageRequest(opts.account, await chain(), r);
    return json<T>('/v1/storage/requests', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
  const idOf = (cid: string) => `0x${cid}` as const;

  async function status(cid: string): Promise<StoredObjectView> {
    // A signed `list` naming the object: only its owner sees its pieces, holders and escrow.
    return request<StoredObjectView>({ action: 'list', objectId: idOf(cid) });
  }

  return {
    /**
     * Uploads a file (or bytes) and asks for it to be stored; by default waits until every piece
     * is placed. Returns the content id (sha256).
     */
    async put(
      file: string | Uint8Array,
      o: {
        dataPieces?: number;
        parityPieces?: number;
        epochs?: number;
        maxPricePerGiBEpoch?: bigint;
        wait?: boolean;
        timeoutMs?: number;
      } = {},
    ): Promise<{ objectId: string; status: string }> {
      const bytes = typeof file === 'string' ? new Uint8Array(await readFile(file)) : file;
      const cid = createHash('sha256').update(bytes).digest('hex');
      const auth = await signBlobAuth(opts.account, await chain(), { cid, size: bytes.byteLength });
      const up = await f(`${base}/v1/blobs/${cid}`, {
        method: 'PUT',
        body: bytes as unknown as BodyInit,
        headers: { 'content-type': 'application/octet-stream', [BLOB_AUTH_HEADER]: auth },
      });
      if (!up.ok) throw await errorFromResponse(up);
      const out = await request<{ objectId: string; status: string }>({
        action: 'put',
        objectId: idOf(cid),
        dataPieces: o.dataPieces ?? 0,
        parityPieces: o.parityPieces ?? 0,
        epochs: o.epochs ?? 0,
        maxPricePerGiBEpoch: o.maxPricePerGiBEpoch ?? 0n,
      });
      if (o.wait === false) return out;
      const deadline = Date.now() + (o.timeoutMs ?? 300_000);
      for (;;) {
        const s = await status(cid);
        if (s.status === 'stored') return { objectId: cid, status: s.status };
        if (Date.now() > deadline)
          throw new PlexusError('PLX_STORAGE_UNAVAILABLE', `object ${cid} not placed in time`, {
            details: { healthy: s.healthy },
          });
        await new Promise((r) => setTimeout(r, 250));
      }
    },

    /**
     * Reads an object: the fastest K valid pieces of each segment, fetched in parallel from the
     * holders that serve directly or else through the coordinator's relay of the holders'
     * sessions, each checked against its root, then decoded and
     * checked against the content id. Signs a cumulative receipt for every server that served.
     */
    async get(
      cid: string,
      o: { onProgress?: (done: number, total: number) => void } = {},
    ): Promise<Uint8Array> {
      const grant = await request<{
        manifest: ObjectManifest;
        token: string;
        pieces: StoredPieceView[];
        receipts?: RetrievalReceiptWire[];
      }>({
        action: 'read',
        objectId: idOf(cid),
      });
      // Counts are cumulative per server: continue from the latest ones already paid (a new
      // process starts at 0 otherwise, and its receipts would be refused as replayed), but only
      // from receipts this account itself signed for this object.
      await receipts.resume(cid, grant.receipts ?? []);
      const m = grant.manifest;
      const total = m.segments.length * m.dataPieces;
      let done = 0;
      const got = await fetchPieces({
        base,
        token: grant.token,
        manifest: m,
        pieces: grant.pieces,
        fetch: f,
        // Holders with a reachable address serve directly; the relay otherwise.
        direct: { receiptFor: (server) => receipts.latestFor(server, cid), chainId: () => chain() },
        onPiece: async ({ bytes, server, direct }) => {
          o.onProgress?.(++done, total);
          if (direct) directPieces++;
          if (server) await receipts.sign(server, cid, bytes.length);
        },
      });
      const bytes = decodeObject(m, (s, i) => got.get(`${s}/${i}`)).bytes;
      // Each server's latest cumulative receipt goes to the coordinator (the post signed by this
      // reader), which hands it to that server to redeem; a lost one costs nothing (the next covers it).
      await receipts.post(base, cid).catch(() => undefined);
      return bytes;
    },

    /** The objects this account stores. */
    async list() {
      return (
        await request<{
          objects: {
            objectId: string;
            bytes: number;
            status: string;
            dataPieces: number;
            parityPieces: number;
          }[];
        }>({ action: 'list' })
      ).objects;
    },
    status,
    /** Removes an object: its holders drop their pieces. */
    /** Removes an object: its holders drop their pieces; `refund` is the unused escrow released (base units). */
    remove: (cid: string) =>
      request<{ objectId: string; status: string; refund?: string }>({
        action: 'remove',
        objectId: idOf(cid),
      }),
    /** The receipts signed so far (one per piece served, each cumulative per server and object). */
    receipts: () => receipts.all(),
    /** Pieces this client read from holders serving directly (not through the relay) so far. */
    directPieces: () => directPieces,
  };
}
