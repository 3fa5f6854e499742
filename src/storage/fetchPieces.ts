/**
 * Reading an object's pieces from the network (docs/storage.md, "Get"): for each segment, every
 * healthy piece is asked for in parallel through `GET /v1/storage/pieces/:root` (served by a
 * holder), each is checked against its root, the first K valid ones are kept and the rest
 * aborted: the reader gets the fastest K. Used by the SDK (`store get`) and by provider agents
 * fetching a job's model from the network (`job submit --model <cid>`).
 */
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { STORAGE_SERVER_HEADER, STORAGE_TOKEN_HEADER } from '../protocol/storageSession.ts';
import { checkPiece, type ObjectManifest } from './erasure.ts';

/** Where a piece is, as a read grant lists it. */
export type GrantedPiece = { segment: number; index: number; root: string; status: string };

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
  }) => Promise<void>;
  signal?: AbortSignal;
}): Promise<Map<string, Uint8Array>> {
  const f = o.fetch ?? fetch;
  const m = o.manifest;
  const got = new Map<string, Uint8Array>();
  for (let s = 0; s < m.segments.length; s++) {
    const candidates = o.pieces.filter((p) => p.segment === s && p.status === 'healthy');
    const ac = new AbortController();
    const stop = () => ac.abort();
    o.signal?.addEventListener('abort', stop, { once: true });
    let valid = 0;
    await new Promise<void>((resolve) => {
      let pending = candidates.length;
      if (pending === 0) resolve();
      for (const p of candidates) {
        void (async () => {
          try {
            const res = await f(`${o.base}/v1/storage/pieces/${p.root}`, {
              headers: { [STORAGE_TOKEN_HEADER]: o.token },
              signal: ac.signal,
            });
            if (!res.ok) throw await errorFromResponse(res);
            const bytes = new Uint8Array(await res.arrayBuffer());
            if (valid >= m.dataPieces || checkPiece(m, s, p.index, bytes) !== null) return;
            got.set(`${s}/${p.index}`, bytes);
            valid++;
            await o.onPiece?.({
              segment: s,
              index: p.index,
              bytes,
              server: res.headers.get(STORAGE_SERVER_HEADER),
            });
            if (valid >= m.dataPieces) {
              ac.abort();
              resolve();
            }
          } catch {
            // another holder's piece will do
          } finally {
            if (--pending === 0) resolve();
          }
        })();
      }
    });
    o.signal?.removeEventListener('abort', stop);
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
