/**
 * The coding jobs the erasure thread runs (erasureThread.ts), as plain functions of plain data so
 * they can cross a `postMessage`: coding an object, decoding one from fetched pieces, and rebuilding one piece of a segment from K
 * others with every piece checked against its root. Both are CPU-bound (Reed-Solomon in WASM and
 * sha256 Merkle trees): off the event loop, a coordinator keeps serving sessions while it codes.
 */
import type { Hex } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';
import {
  decodeObject,
  type ErasureParams,
  encodeObject,
  type ObjectManifest,
  rebuildPieces,
} from './erasure.ts';
import { PieceTree } from './pieceTree.ts';

/** One job for the erasure thread. */
export type ErasureJob =
  | { op: 'encode'; object: Uint8Array; params: ErasureParams }
  | {
      op: 'rebuild';
      /** Fetched pieces by index (undefined: missing); each is checked against `roots` first. */
      slots: (Uint8Array | undefined)[];
      roots: Hex[];
      dataPieces: number;
      parityPieces: number;
      pieceBytes: number;
      leafBytes: number;
      /** The piece to rebuild: it must match `roots[index]`. */
      index: number;
    }
  | { op: 'root'; piece: Uint8Array; leafBytes: number }
  /** `decodeObject` from fetched pieces keyed `segment/index` (each checked against its root). */
  | { op: 'decode'; manifest: ObjectManifest; pieces: Map<string, Uint8Array> };

/** What each job answers. */
export type ErasureResult = {
  encode: { manifest: ObjectManifest; pieces: Uint8Array[][] };
  rebuild: Uint8Array;
  root: Hex;
  decode: Uint8Array;
};

/**
 * Runs one job; `transfer` lists the result's buffers (each once) to move rather than copy.
 *
 * @example const { result } = runErasureJob({ op: 'root', piece, leafBytes: 1024 });
 */
export function runErasureJob(job: ErasureJob): { result: unknown; transfer: ArrayBuffer[] } {
  if (job.op === 'root') return { result: PieceTree.build(job.piece, job.leafBytes).root, transfer: [] };
  if (job.op === 'decode') {
    const { bytes } = decodeObject(job.manifest, (seg, i) => job.pieces.get(`${seg}/${i}`));
    return { result: bytes, transfer: buffersOf([bytes]) };
  }
  if (job.op === 'encode') {
    const out = encodeObject(job.object, job.params);
    return { result: out, transfer: buffersOf(out.pieces.flat()) };
  }
  const piece = rebuildOne(job);
  return { result: piece, transfer: buffersOf([piece]) };
}

/** Rebuilds piece `index` from the valid pieces among `slots` and checks it against its root. */
function rebuildOne(job: Extract<ErasureJob, { op: 'rebuild' }>): Uint8Array {
  const checked = job.slots.map((p, i) =>
    p !== undefined && p.length === job.pieceBytes && PieceTree.build(p, job.leafBytes).root === job.roots[i]
      ? p
      : undefined,
  );
  const valid = checked.filter((p) => p !== undefined).length;
  if (valid < job.dataPieces)
    throw new PlexusError('PLX_STORAGE_UNAVAILABLE', `only ${valid} of ${job.dataPieces} pieces are valid`);
  const all = rebuildPieces(checked, job.dataPieces, job.parityPieces, job.pieceBytes);
  const piece = all[job.index];
  if (piece === undefined) throw new RangeError(`no piece ${job.index}`);
  if (PieceTree.build(piece, job.leafBytes).root !== job.roots[job.index])
    throw new PlexusError('PLX_DIGEST_MISMATCH', `rebuilt piece ${job.index} does not match its root`);
  // A piece may be a view of a larger buffer: copy it so only its own bytes cross the thread.
  return piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength ? piece : piece.slice();
}

/** The distinct ArrayBuffers behind some views (a transfer list must not name one twice). */
function buffersOf(views: Uint8Array[]): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const v of views) if (v.buffer instanceof ArrayBuffer) set.add(v.buffer);
  return [...set];
}
