/**
 * Reading an object's pieces from the network (docs/storage.md, "Get"): for each segment, K
 * healthy pieces (data pieces first) are asked for in parallel through
 * `GET /v1/storage/pieces/:root` (served by a holder), each checked against its root; a failed or
 * invalid one is replaced by another holder's at once, and while K valid ones are not in after
 * `hedgeMs` one more is asked for (a hedge), until K are in and the rest are aborted. So a read
 * moves K pieces when its holders answer, and the fastest K of those asked when one lags: before,
 * every K + M piece was asked for at once and the M extra were relayed and dropped (the relay
 * counted 3 pieces served for every 2 a reader used at K=2, M=1). Used by the SDK (`store get`) and by provider agents
 * fetching a job's model from the network (`job submit --model <cid>`).
 *
 * With `direct`, each piece is first asked of a holder that serves directly (docs/storage.md,
 * "Direct serving"): a ticket from `POST /v1/storage/tickets/:root`, then the piece from that
 * holder's own server, with the reader's latest receipt for it; the relay is used when no holder
 * serves directly, or the direct one fails or sends bytes that do not match the root. A direct
 * answer is kept only when it carries the `DirectPiece` signature (over the server, the ticket and
 * the root) of the very holder the coordinator named with the ticket: a `serveUrl` pointing
 * elsewhere, or anyone else answering there, is not believed (PLX_STORAGE_SERVER_UNPROVEN) and the
 * piece comes through the relay; no receipt is signed for it.
 */
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { recoverSigner } from '../protocol/eip712.ts';
import { directPieceHash, type RetrievalReceiptWire } from '../protocol/storageMessages.ts';
import {
  STORAGE_PIECE_SIGNATURE_HEADER,
  STORAGE_RECEIPT_HEADER,
  STORAGE_SERVER_HEADER,
  STORAGE_TICKET_HEADER,
  STORAGE_TOKEN_HEADER,
} from '../protocol/storageSession.ts';
import { checkPiece, type ObjectManifest } from './erasure.ts';
import { checkServeUrl, isLocalUrl } from './serveAddress.ts';

/**
 * How long a read waits on its first K requests before asking one more holder (and again each
 * time this passes): long enough that a healthy relay of a 2 MiB piece is not raced, short enough
 * that one slow or silent holder costs a read at most this much.
 */
export const DEFAULT_HEDGE_MS = 2_000;

/** Where a piece is, as a read grant lists it. */
export type GrantedPiece = {
  segment: number;
  index: number;
  root: string;
  status: string;
  /** Its holder serves directly (a ticket is asked for only then; absent: asked anyway). */
  direct?: boolean;
  /** Its holder's address, as the grant names it (absent: any spoiled server stops direct reads). */
  holder?: string | null;
};

/**
 * Fetches the fastest K valid pieces of every segment; `pieces` maps `segment/index` to bytes.
 * Throws PLX_STORAGE_UNAVAILABLE when a segment has fewer than K valid pieces to be had.
 *
 * @example
 * const got = await fetchPieces({ base, token: grant.token, manifest: grant.manifest, pieces: grant.pieces });
 * const { bytes } = decodeObject(grant.manifest, (s, i) => got.get(`${s}/${i}`));
 */
export async function fetchPieces(o: {
  base: string;
  token: string;
  manifest: ObjectManifest;
  pieces: readonly GrantedPiece[];
  fetch?: typeof fetch;
  /** Each valid piece kept, with the server that sent it (its address header), before the next. */
  onPiece?: (p: {
    segment: number;
    index: number;
    bytes: Uint8Array;
    server: string | null;
    /** Served by the holder's own piece server (not relayed). */
    direct: boolean;
  }) => Promise<void>;
  /**
   * Prefer holders that serve directly; `receiptFor` answers the reader's latest signed receipt
   * for a server and this object (shown to the server, which serves a reader owing it for an
   * earlier piece only once it is paid). `chainId`: the domain of the servers' `DirectPiece`
   * signatures, checked against the server the coordinator named.
   */
  direct?: {
    receiptFor(server: string): RetrievalReceiptWire | undefined;
    chainId: () => Promise<number> | number;
  };
  /**
   * The reader's latest signed receipt for a server and this object, shown to the relay (it serves
   * a reader one unpaid piece per server at a time); defaults to `direct.receiptFor`.
   */
  receiptFor?: (server: string) => RetrievalReceiptWire | undefined;
  signal?: AbortSignal;
  /** How long the first K requests may lag before one more piece is asked for (DEFAULT_HEDGE_MS). */
  hedgeMs?: number;
}): Promise<Map<string, Uint8Array>> {
  const f = o.fetch ?? fetch;
  const m = o.manifest;
  const k = m.dataPieces;
  const hedgeMs = o.hedgeMs ?? DEFAULT_HEDGE_MS;
  const got = new Map<string, Uint8Array>();
  /**
   * Set once a direct server answered in full with something not kept (not signed by the named
   * holder, or bytes that miss the root): its ticket stays counted (the server reported it served),
   * and the relay counts the piece again, so the rest of this read asks that server for no more
   * tickets (its other pieces come through the relay; honest servers keep serving directly). A
   * lying server thus costs a reader at most its direct pieces in flight at that moment, not every
   * piece it holds (docs/storage.md "A ticket counts what it delivers").
   */
  const spoiled = new Set<string>();
  const spoil = (server: string | null) => spoiled.add((server ?? '?').toLowerCase());
  /** Whether a piece may still be asked of its holder's own server. */
  const directAllowed = (p: GrantedPiece) =>
    p.holder ? !spoiled.has(p.holder.toLowerCase()) && !spoiled.has('?') : spoiled.size === 0;
  /** A piece from a holder's own server, with a ticket; the server is the one the coordinator named. */
  const fetchDirect = async (root: string, signal: AbortSignal) => {
    const t = await f(`${o.base}/v1/storage/tickets/${root}`, {
      method: 'POST',
      headers: { [STORAGE_TOKEN_HEADER]: o.token },
      signal,
    });
    if (!t.ok) throw await errorFromResponse(t);
    const ticket = (await t.json()) as { server: string; url: string; ticket: string };
    if (!/^0x[0-9a-fA-F]{40}$/.test(ticket.server) || !/^[0-9a-f]{64}$/.test(ticket.ticket))
      throw new PlexusError('PLX_STORAGE_SERVER_UNPROVEN', 'malformed ticket');
    // Never a request to an address the reader must not be sent to (serveAddress.ts).
    const serveUrl = checkServeUrl(ticket.url, { allowLocal: isLocalUrl(o.base) });
    const receipt = o.direct?.receiptFor(ticket.server);
    const res = await f(`${serveUrl}/v1/pieces/${root}`, {
      headers: {
        [STORAGE_TICKET_HEADER]: ticket.ticket,
        ...(receipt ? { [STORAGE_RECEIPT_HEADER]: JSON.stringify(receipt) } : {}),
      },
      signal,
    });
    if (!res.ok) throw await errorFromResponse(res);
    // The holder the coordinator named must have signed this answer to this ticket (before its bytes are read).
    const signature = res.headers.get(STORAGE_PIECE_SIGNATURE_HEADER) ?? '';
    const digest = directPieceHash(Number(await o.direct?.chainId()), {
      server: ticket.server as `0x${string}`,
      ticket: `0x${ticket.ticket}`,
      pieceRoot: root as `0x${string}`,
    });
    const signer = /^0x[0-9a-fA-F]{130}$/.test(signature)
      ? await recoverSigner(digest, signature as `0x${string}`).catch(() => '')
      : '';
    if (signer.toLowerCase() !== ticket.server.toLowerCase()) {
      spoil(ticket.server);
      await res.body?.cancel().catch(() => {});
      throw new PlexusError('PLX_STORAGE_SERVER_UNPROVEN', `the answer is not signed by ${ticket.server}`);
    }
    return { bytes: new Uint8Array(await res.arrayBuffer()), server: ticket.server, direct: true };
  };
  const receiptFor = o.receiptFor ?? o.direct?.receiptFor;
  /** Per piece index, the server that sent it last: it likely holds that index of every segment. */
  const serverOf = new Map<number, string>();
  /**
   * A piece through the relay, with the reader's latest receipt for the server likely to serve it
   * (the relay serves a reader one unpaid piece per server at a time: 402 otherwise); asked again
   * once with the receipt for the server the refusal names.
   */
  const fetchRelayed = async (root: string, index: number, signal: AbortSignal) => {
    const ask = (server: string | undefined) => {
      const receipt = server ? receiptFor?.(server) : undefined;
      return f(`${o.base}/v1/storage/pieces/${root}`, {
        headers: {
          [STORAGE_TOKEN_HEADER]: o.token,
          ...(receipt ? { [STORAGE_RECEIPT_HEADER]: JSON.stringify(receipt) } : {}),
        },
        signal,
      });
    };
    let res = await ask(serverOf.get(index));
    if (res.status === 402) {
      const err = await errorFromResponse(res);
      const named = err.details?.server;
      if (typeof named !== 'string' || named === serverOf.get(index) || !receiptFor?.(named)) throw err;
      res = await ask(named);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return {
      bytes: new Uint8Array(await res.arrayBuffer()),
      server: res.headers.get(STORAGE_SERVER_HEADER),
      direct: false,
    };
  };
  for (let s = 0; s < m.segments.length; s++) {
    /** This segment's receipts being signed: all signed before the next segment asks the relay. */
    const receipting: Promise<void>[] = [];
    // Data pieces first (they decode with the least work), then parity.
    const candidates = o.pieces
      .filter((p) => p.segment === s && p.status === 'healthy')
      .sort((a, b) => a.index - b.index);
    const ac = new AbortController();
    const stop = () => ac.abort();
    o.signal?.addEventListener('abort', stop, { once: true });
    let valid = 0;
    await new Promise<void>((resolve) => {
      let next = 0;
      let inFlight = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ac.abort();
        resolve();
      };
      const launch = () => {
        const p = candidates[next++]!;
        inFlight++;
        void (async () => {
          try {
            let piece: { bytes: Uint8Array; server: string | null; direct: boolean } | undefined =
              o.direct && p.direct !== false && directAllowed(p)
                ? await fetchDirect(p.root, ac.signal).catch(() => undefined)
                : undefined;
            // Bytes that do not match the root are neither kept nor receipted: the relay is asked.
            if (piece && checkPiece(m, s, p.index, piece.bytes) !== null) {
              spoil(piece.server);
              piece = undefined;
            }
            if (!piece) piece = await fetchRelayed(p.root, p.index, ac.signal);
            const { bytes } = piece;
            if (valid >= k || checkPiece(m, s, p.index, bytes) !== null) return;
            got.set(`${s}/${p.index}`, bytes);
            valid++;
            if (piece.server) serverOf.set(p.index, piece.server);
            const receipted = o.onPiece?.({ segment: s, index: p.index, ...piece });
            if (receipted) receipting.push(receipted.catch(() => {}));
            await receipted;
            if (valid >= k) finish();
          } catch {
            // another holder's piece will do
          } finally {
            inFlight--;
            topUp();
          }
        })();
      };
      /** Keeps K pieces asked for (a failed or invalid one is replaced); done when none can come. */
      const topUp = () => {
        while (!done && inFlight + valid < k && next < candidates.length) launch();
        if (!done && inFlight === 0) finish();
      };
      // A holder slower than `hedgeMs`: one more piece asked for, and again every `hedgeMs`.
      const hedge = () => {
        if (done || next >= candidates.length) return;
        launch();
        timer = setTimeout(hedge, hedgeMs);
      };
      timer = setTimeout(hedge, hedgeMs);
      topUp();
    });
    o.signal?.removeEventListener('abort', stop);
    await Promise.all(receipting);
    if (valid < m.dataPieces)
      throw new PlexusError(
        'PLX_STORAGE_UNAVAILABLE',
        `segment ${s}: ${valid} of ${m.dataPieces} pieces fetched`,
        {
          details: { segment: s, valid, needed: m.dataPieces },
        },
      );
  }
  return got;
}
