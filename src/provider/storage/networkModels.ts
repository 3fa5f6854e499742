/**
 * Models of compute jobs kept on the storage network (`plexus job submit --model <cid>`, docs/storage.md
 * "Models on the network"): when a task names a model that is a stored object, the agent asks the
 * coordinator for a read grant (signed with its key; granted while it holds a lease on a task of
 * that job), fetches the fastest K pieces of every segment from the holders, checks each against its
 * Merkle root, decodes in the coding thread and checks the sha256 against the content id before the
 * blob cache keeps it. A model that is not on the network (or cannot be read from it) comes from the
 * coordinator's blob API as before. Every piece read is receipted to its server like any read
 * (receiptSigner.ts); the job's client, the model's owner, pays for them (docs/storage.md).
 */
import { Readable } from 'node:stream';
import type { LocalAccount } from 'viem';
import { errorFromResponse } from '../../errors/httpError.ts';
import { isPlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { type RetrievalReceiptWire, signStorageRequest } from '../../protocol/storageMessages.ts';
import type { ObjectManifest } from '../../storage/erasure.ts';
import { createErasureThread, type ErasureThread } from '../../storage/erasureThread.ts';
import { fetchPieces, type GrantedPiece } from '../../storage/fetchPieces.ts';
import { createReceiptSigner } from '../../storage/receiptSigner.ts';

/** Model cids remembered at most (the newest kept). */
const MAX_MODELS = 1024;

/**
 * @example
 * const models = createNetworkModels({ base: () => url, account, chainId: () => 31337, log });
 * models.note(task.model);
 * const body = await models.fetch(cid, signal, () => blobs.get(cid, signal));
 */
export function createNetworkModels(deps: {
  base: () => string;
  account: LocalAccount;
  chainId: () => number;
  log: Logger;
  coder?: ErasureThread;
  fetch?: typeof fetch;
}) {
  const f = deps.fetch ?? fetch;
  const models = new Set<string>();
  let coder = deps.coder;
  let fromNetwork = 0;
  const receipts = createReceiptSigner({
    account: deps.account,
    chainId: async () => deps.chainId(),
    fetch: f,
  });

  async function grant(cid: string) {
    const body = await signStorageRequest(deps.account, deps.chainId(), {
      action: 'read',
      objectId: `0x${cid}`,
    });
    const res = await f(`${deps.base()}/v1/storage/requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await errorFromResponse(res);
    return (await res.json()) as {
      manifest: ObjectManifest;
      token: string;
      pieces: GrantedPiece[];
      receipts?: RetrievalReceiptWire[];
    };
  }

  async function fromPieces(
    cid: string,
    g: Awaited<ReturnType<typeof grant>>,
    signal: AbortSignal | undefined,
  ): Promise<Readable> {
    const started = Date.now();
    const servers = new Set<string>();
    let direct = 0;
    // Paid like any read (docs/storage.md, "Models on the network"): a cumulative receipt per
    // server, continued from those already paid, posted signed once the model is read.
    await receipts.resume(cid, g.receipts ?? []);
    const got = await fetchPieces({
      base: deps.base(),
      token: g.token,
      manifest: g.manifest,
      pieces: g.pieces,
      fetch: f,
      ...(signal ? { signal } : {}),
      // Holders with a reachable address serve directly; the relay otherwise.
      direct: { receiptFor: (server) => receipts.latestFor(server, cid), chainId: () => deps.chainId() },
      onPiece: async ({ server, bytes, direct: d }) => {
        if (d) direct++;
        if (!server) return;
        servers.add(server.toLowerCase());
        await receipts.sign(server, cid, bytes.length);
      },
    });
    const posted = receipts.post(deps.base(), cid).catch((err: unknown) => {
      deps.log.warn({ cid, err: String(err) }, 'posting the receipts of a model read failed');
      return 0;
    });
    coder ??= createErasureThread();
    const bytes = await coder.decode(g.manifest, got);
    await posted;
    fromNetwork++;
    deps.log.info(
      { cid, bytes: bytes.length, pieces: got.size, direct, servers: [...servers], ms: Date.now() - started },
      'model fetched from the storage network',
    );
    return Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  }

  return {
    /** A task named this cid as its model: the next fetch of it tries the storage network first. */
    note(cid: string): void {
      models.delete(cid);
      models.add(cid);
      if (models.size > MAX_MODELS) models.delete(models.values().next().value as string);
    },
    /** The model's bytes from the storage network when it is stored there, else from `fallback`. */
    async fetch<T>(
      cid: string,
      signal: AbortSignal | undefined,
      fallback: () => Promise<T>,
    ): Promise<T | Readable> {
      if (!models.has(cid)) return fallback();
      let g: Awaited<ReturnType<typeof grant>>;
      try {
        g = await grant(cid);
      } catch (err) {
        // Not a stored object (or not readable by us): the coordinator's blob API, as for any blob.
        if (!isPlexusError(err) || err.code !== 'PLX_NOT_FOUND')
          deps.log.warn({ cid, err: String(err) }, 'no read grant for a model on the storage network');
        return fallback();
      }
      try {
        return await fromPieces(cid, g, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        deps.log.warn(
          { cid, err: String(err) },
          'model not readable from the storage network; fetching it from the coordinator',
        );
        return fallback();
      }
    },
    /** Receipts signed for model reads so far (one per piece read). */
    receipts: () => receipts.all(),
    /** The receipt book (shared with the storage agent's repair reads: one count per server and object). */
    signer: receipts,
    /** Models read from the storage network so far. */
    fetched: () => fromNetwork,
    /** Stops the coding thread. */
    close: async () => {
      if (!deps.coder) await coder?.close();
    },
  };
}
