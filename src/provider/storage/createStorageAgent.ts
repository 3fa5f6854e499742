/**
 * The provider's side of the storage network (issue 19, docs/storage.md): it keeps the pieces it
 * is ordered to keep (fetched over HTTP with the order's token, checked against their roots),
 * answers challenges with leaves and Merkle paths, serves pieces to readers by posting them to the
 * coordinator's relay, and rebuilds lost pieces from K others on repair orders. All of it runs
 * over connections the provider opens itself, so it works behind NAT.
 */
import type { Hex } from 'viem';
import { errorFromResponse } from '../../errors/httpError.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import {
  STORAGE_SERVER_HEADER,
  STORAGE_TOKEN_HEADER,
  type StorageCoordinatorMessage,
  type StorageOffer,
} from '../../protocol/storageSession.ts';
import { answerToWire, type Challenge, challengeIndices } from '../../storage/challenge.ts';
import { createErasureThread, type ErasureThread } from '../../storage/erasureThread.ts';
import type { ReceiptSigner } from '../../storage/receiptSigner.ts';
import type { PieceStore } from './createPieceStore.ts';
import type { DirectServing } from './servePieces.ts';
import { applyStorageCheat, type StorageBehaviour } from './storageCheats.ts';

export type StorageAgent = {
  /** What the session auth advertises. */
  offer(): StorageOffer;
  handle(msg: StorageCoordinatorMessage): void;
  /** PLX base units paid for retrieval so far (redeemed receipts). */
  redeemed(): bigint;
  /** Stops the coding thread (agent shutdown). */
  close(): Promise<void>;
};

/**
 * @example
 * const agent = createStorageAgent({ base, store, send: sendJson, log });
 * // in the session's message handler: if (msg.type.startsWith('store.')) agent.handle(msg);
 */
export function createStorageAgent(deps: {
  /** The coordinator's base URL, or a function answering the replica the session uses now. */
  base: string | (() => string);
  store: PieceStore;
  send: (msg: unknown) => boolean;
  log: Logger;
  dir: string;
  behaviour?: StorageBehaviour;
  fetch?: typeof fetch;
  /** This provider's address (receipts for other servers are not ours to redeem). */
  address?: string;
  /** Where repairs rebuild pieces (off the event loop); one thread of its own when absent. */
  coder?: ErasureThread;
  /**
   * Signs a receipt to each server of a repair's source pieces, for the pieces used, and posts
   * them (receiptSigner.ts): the sources' holders are paid, charged to the object's owner.
   */
  receipts?: ReceiptSigner;
  /** Direct serving (`--serve-address`, servePieces.ts): its tickets, the URL offered, its server. */
  direct?: { serving: DirectServing; url: string; close(): Promise<void> };
}): StorageAgent {
  const { store, send, log } = deps;
  const baseOf = typeof deps.base === 'string' ? () => deps.base as string : deps.base;
  const coder = deps.coder ?? createErasureThread();
  const f = deps.fetch ?? fetch;
  const behaviour = deps.behaviour ?? 'honest';
  /** Roots the agent claims even where a cheat removed the files (what a cheater would claim). */
  const claimed = new Set<Hex>(store.list());
  /** PLX base units earned from redeemed retrieval receipts since start. */
  let redeemed = 0n;
  /** Highest cumulative count sent for redemption per (reader, object): a lower or equal one cannot pay. */
  const sentUpTo = new Map<string, bigint>();

  async function getPiece(
    path: string,
    token: string,
  ): Promise<{ bytes: Uint8Array; server: string | null }> {
    const res = await f(`${baseOf()}${path}`, { headers: { [STORAGE_TOKEN_HEADER]: token } });
    if (!res.ok) throw await errorFromResponse(res);
    return { bytes: new Uint8Array(await res.arrayBuffer()), server: res.headers.get(STORAGE_SERVER_HEADER) };
  }
  const getBytes = async (path: string, token: string) => (await getPiece(path, token)).bytes;

  /** Receipts for the source pieces a repair used, one per piece to its server, then posted. */
  async function receiptSources(cid: string | undefined, used: { server: string | null; bytes: number }[]) {
    const r = deps.receipts;
    if (!r || !cid) return;
    try {
      for (const u of used) if (u.server) await r.sign(u.server, cid, u.bytes);
      await r.post(baseOf(), cid);
    } catch (err) {
      log.warn({ cid, err: String(err) }, 'posting the receipts of a repair read failed');
    }
  }

  const refuse = (orderId: string, err: unknown) => {
    const e = err instanceof PlexusError ? err : undefined;
    log.warn({ orderId, err: String(err) }, 'storage order failed');
    send({
      type: 'store.refused',
      orderId,
      code: e?.code ?? 'PLX_INTERNAL',
      message: (err instanceof Error ? err.message : String(err)).slice(0, 2000),
    });
  };

  async function keep(root: Hex, piece: Uint8Array, leafBytes: number): Promise<void> {
    await store.put(root, piece, leafBytes);
    claimed.add(root);
    if (behaviour !== 'honest' && behaviour !== 'late') await applyStorageCheat(deps.dir, root, behaviour);
  }

  async function put(m: Extract<StorageCoordinatorMessage, { type: 'store.put' }>): Promise<void> {
    try {
      // Fetched even when held already (the same piece in another object): the coordinator counts
      // `store.stored` only from a holder that downloaded the order's piece (orderProof.ts).
      const piece = await getBytes(`/v1/storage/orders/${m.orderId}/piece`, m.token);
      if (piece.length !== m.pieceBytes)
        throw new PlexusError(
          'PLX_STORAGE_PIECE_INVALID',
          `got ${piece.length} bytes, expected ${m.pieceBytes}`,
        );
      if (!store.has(m.pieceRoot)) await keep(m.pieceRoot, piece, m.leafBytes);
      send({ type: 'store.stored', orderId: m.orderId, pieceRoot: m.pieceRoot });
    } catch (err) {
      refuse(m.orderId, err);
    }
  }

  async function challenge(
    m: Extract<StorageCoordinatorMessage, { type: 'store.challenge' }>,
  ): Promise<void> {
    const c = {
      seed: m.seed,
      window: m.window,
      pieceRoot: m.pieceRoot,
      pieceBytes: m.pieceBytes,
      leafBytes: m.leafBytes,
      count: m.count,
    };
    let leaves: ReturnType<typeof answerToWire>['leaves'] = [];
    try {
      leaves = answerToWire(c, await store.answer(c)).leaves;
    } catch (err) {
      if (behaviour === 'root-only') {
        // Kept the root and nothing else: the best it can do is make leaves up.
        leaves = answerToWire(c, fabricate(c)).leaves;
      } else log.warn({ root: m.pieceRoot, err: String(err) }, 'cannot answer a storage challenge');
    }
    if (behaviour === 'late') await new Promise((r) => setTimeout(r, m.deadlineMs + 2000));
    send({
      type: 'store.answer',
      challengeId: m.challengeId,
      pieceRoot: m.pieceRoot,
      window: m.window,
      leaves,
    });
  }

  async function serve(m: Extract<StorageCoordinatorMessage, { type: 'store.serve' }>): Promise<void> {
    try {
      const piece = await store.read(m.pieceRoot);
      const res = await f(`${baseOf()}/v1/storage/relay/${m.orderId}`, {
        method: 'POST',
        headers: { [STORAGE_TOKEN_HEADER]: m.token, 'content-type': 'application/octet-stream' },
        body: piece as unknown as BodyInit,
      });
      if (!res.ok) throw await errorFromResponse(res);
    } catch (err) {
      refuse(m.orderId, err);
    }
  }

  async function repair(m: Extract<StorageCoordinatorMessage, { type: 'store.repair' }>): Promise<void> {
    try {
      const slots: (Uint8Array | undefined)[] = new Array(m.dataPieces + m.parityPieces).fill(undefined);
      const used: { server: string | null; bytes: number }[] = [];
      let valid = 0;
      // Fetch in waves of the missing count until K pieces that match their roots are in hand.
      const queue = [...m.sources];
      while (valid < m.dataPieces && queue.length > 0) {
        const wave = queue.splice(0, m.dataPieces - valid);
        const got = await Promise.all(
          wave.map(async (s) => {
            try {
              const { bytes: p, server } = await getPiece(`/v1/storage/pieces/${s.root}`, m.token);
              // Hashed in the coding thread: a repair never holds the agent's event loop.
              const ok = p.length === m.pieceBytes && (await coder.root(p, m.leafBytes)) === s.root;
              if (ok) used.push({ server, bytes: p.length });
              return ok ? p : undefined;
            } catch (err) {
              log.debug({ root: s.root, err: String(err) }, 'repair source unavailable');
              return undefined;
            }
          }),
        );
        wave.forEach((s, i) => {
          const p = got[i];
          if (p !== undefined) {
            slots[s.index] = p;
            valid++;
          }
        });
      }
      if (valid < m.dataPieces)
        throw new PlexusError(
          'PLX_STORAGE_UNAVAILABLE',
          `only ${valid} of ${m.dataPieces} pieces could be fetched`,
        );
      const roots: Hex[] = new Array(m.dataPieces + m.parityPieces).fill(`0x${'00'.repeat(32)}`);
      for (const s of m.sources) roots[s.index] = s.root;
      roots[m.index] = m.pieceRoot;
      // Rebuilt in the coding thread and checked there against its root (and again by `keep`).
      const piece = await coder.rebuild({
        slots,
        roots,
        dataPieces: m.dataPieces,
        parityPieces: m.parityPieces,
        pieceBytes: m.pieceBytes,
        leafBytes: m.leafBytes,
        index: m.index,
      });
      await keep(m.pieceRoot, piece, m.leafBytes);
      send({ type: 'store.stored', orderId: m.orderId, pieceRoot: m.pieceRoot });
      // The sources' holders are paid for the pieces this repair used (charged to the owner).
      await receiptSources(m.objectId, used);
    } catch (err) {
      refuse(m.orderId, err);
    }
  }

  return {
    redeemed: () => redeemed,
    close: async () => {
      await deps.direct?.close();
      if (!deps.coder) await coder.close();
    },
    offer: () => ({
      offeredBytes: store.capacityBytes,
      freeBytes: Math.max(0, store.capacityBytes - store.usedBytes()),
      pieces: [...claimed].slice(0, 100_000),
      ...(deps.direct ? { serveUrl: deps.direct.url } : {}),
    }),
    handle(msg) {
      switch (msg.type) {
        case 'store.put':
          void put(msg);
          break;
        case 'store.challenge':
          void challenge(msg);
          break;
        case 'store.serve':
          void serve(msg);
          break;
        case 'store.repair':
          void repair(msg);
          break;
        case 'store.drop':
          claimed.delete(msg.pieceRoot);
          void store.drop(msg.pieceRoot);
          break;
        case 'store.ticket':
          deps.direct?.serving.addTicket(msg);
          break;
        case 'store.receipt':
          // Counts as paid for direct serving too (a reader's last piece is paid this way).
          if (deps.direct) void deps.direct.serving.sawReceipt(msg.receipt).catch(() => false);
          // A reader's receipt for bytes we served: redeem it (the coordinator checks it against its relay count).
          if (msg.receipt.server.toLowerCase() === deps.address?.toLowerCase()) {
            // Not one we already sent, nor a lower one: those cannot pay and only spend our session's rate.
            const key = `${msg.receipt.reader.toLowerCase()}/${msg.receipt.objectId.toLowerCase()}`;
            const bytes = BigInt(msg.receipt.cumulativeBytes);
            if (bytes <= (sentUpTo.get(key) ?? 0n)) break;
            if (sentUpTo.size >= 10_000) sentUpTo.clear();
            sentUpTo.set(key, bytes);
            send({ type: 'store.redeem', receipt: msg.receipt });
          }
          break;
        case 'store.redeemed':
          if (msg.ok) redeemed += BigInt(msg.amount);
          log.info(
            {
              objectId: msg.objectId,
              ok: msg.ok,
              reason: msg.reason,
              bytes: msg.payableBytes,
              amount: msg.amount,
            },
            'retrieval receipt redeemed',
          );
          break;
      }
    },
  };
}

/** Made-up leaves at the right indices (what a holder that kept only the root can send). */
function fabricate(c: Challenge) {
  return challengeIndices(c).map((index) => ({ index, leaf: new Uint8Array(c.leafBytes), path: [] }));
}
