/**
 * Erasure coding of stored objects (issue 19): an object is split into segments, each segment is
 * Reed-Solomon coded into K data + M parity pieces, and any K valid pieces of a segment rebuild it.
 *
 * The codec is `@digitaldefiance/reed-solomon-erasure.wasm` (MIT): the Rust `reed-solomon-erasure`
 * crate (a port of Backblaze's and Klaus Post's Reed-Solomon over GF(2^8)) compiled to WebAssembly,
 * shipped inside the npm package, so installing downloads nothing else and builds nothing. Why this
 * one and not a native addon: docs/storage.md ("Codec").
 *
 * Layout. Segment s holds bytes [s·segmentBytes, (s+1)·segmentBytes) of the object (the last one
 * may be shorter; an empty object has one empty segment, so it still has pieces to prove). Its
 * pieces are `pieceBytes = max(1, ceil(segment length / K))` long: data piece i is bytes
 * [i·pieceBytes, (i+1)·pieceBytes) of the segment, zero-padded, then the M parity pieces. Each
 * piece has a Merkle root (pieceTree.ts), recorded in the manifest at upload; a reader checks every
 * piece against its root before using it, so a corrupted piece is dropped, never decoded.
 *
 * Placement (later work) puts piece index i of every segment on the same holder, so losing a
 * holder removes the same index from every segment: durability per object is then durability per
 * segment (docs/storage.md, "Durability model").
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import type { Hex } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';
import { DEFAULT_LEAF_BYTES, PieceTree } from './pieceTree.ts';

/** Shape of the coding of one object. */
export type ErasureParams = {
  /** K: pieces needed to rebuild a segment. */
  dataPieces: number;
  /** M: pieces that may be lost. */
  parityPieces: number;
  /** Bytes of the object per segment (the last segment may be shorter). */
  segmentBytes: number;
  /** Merkle leaf size of every piece (pieceTree.ts). */
  leafBytes: number;
};

/**
 * Defaults, chosen with the durability model in docs/storage.md: K = 16, M = 16 is 2× storage
 * overhead; a 32 MiB segment makes 2 MiB pieces (big enough that per-piece bookkeeping and
 * challenges stay small next to the data, small enough that a repair moves little).
 *
 * @example encodeObject(bytes, { ...DEFAULT_ERASURE, dataPieces: 4, parityPieces: 2 })
 */
export const DEFAULT_ERASURE: Readonly<ErasureParams> = Object.freeze({
  dataPieces: 16,
  parityPieces: 16,
  segmentBytes: 32 * 1024 * 1024,
  leafBytes: DEFAULT_LEAF_BYTES,
});

/**
 * Repair starts when a segment's healthy pieces fall to this many (of K + M = 32): 6 lost pieces.
 * Lazier thresholds repair less often but leave less margin; docs/storage.md has the trade-off.
 *
 * @example const needsRepair = healthyPieces <= DEFAULT_REPAIR_THRESHOLD;
 */
export const DEFAULT_REPAIR_THRESHOLD = 26;

/** What the network records about one segment. */
export type SegmentManifest = {
  /** Bytes of the object in this segment. */
  bytes: number;
  /** Length of each of its K + M pieces. */
  pieceBytes: number;
  /** Merkle root of each piece, data pieces first (index = piece index). */
  pieceRoots: Hex[];
};

/** What the network records about one stored object: enough to check and decode every piece. */
export type ObjectManifest = ErasureParams & {
  /** sha256 of the whole object (the same content id as blobs: checked after decoding). */
  objectId: Hex;
  objectBytes: number;
  segments: SegmentManifest[];
};

/** A piece found not to match its root (or of the wrong length) while decoding. */
export type RejectedPiece = { segment: number; index: number; reason: 'length' | 'root' };

/**
 * Checks K, M and sizes; the codec works over GF(2^8), so K + M ≤ 256.
 *
 * @example checkParams(DEFAULT_ERASURE) // throws PLX_VALIDATION on K = 0, M = 0, K + M > 256, …
 */
export function checkParams(p: ErasureParams): void {
  const ok =
    Number.isInteger(p.dataPieces) &&
    Number.isInteger(p.parityPieces) &&
    p.dataPieces >= 1 &&
    p.parityPieces >= 1 &&
    p.dataPieces + p.parityPieces <= 256 &&
    Number.isSafeInteger(p.segmentBytes) &&
    p.segmentBytes >= p.dataPieces &&
    Number.isSafeInteger(p.leafBytes) &&
    p.leafBytes >= 1;
  if (!ok)
    throw new PlexusError('PLX_VALIDATION', 'erasure parameters out of range', {
      details: { ...p },
    });
}

/**
 * Piece length of a segment of `segmentLength` bytes.
 *
 * @example pieceBytesOf(10, 4) // 3
 */
export function pieceBytesOf(segmentLength: number, dataPieces: number): number {
  return Math.max(1, Math.ceil(segmentLength / dataPieces));
}

let compiled: WebAssembly.Module | undefined;

/**
 * A Reed-Solomon codec with a fresh WASM heap. The package's build links the `wee_alloc`
 * allocator, which is unmaintained and, measured here, corrupts its own heap across calls (wrong
 * bytes, then "memory access out of bounds", after a few reconstructs of small pieces on one
 * instance; src/storage/erasure.test.ts covers those sizes). A new instance per operation costs
 * about 0.2 ms on this machine and gives every call a pristine heap; the compiled module is
 * shared. Loaded from the package's own `.wasm` (its ESM loader looks for `__dirname`, which ESM
 * does not have).
 */
function wasm(): ReedSolomonErasure {
  if (compiled === undefined) {
    const path = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm');
    compiled = new WebAssembly.Module(readFileSync(path));
  }
  // The constructor (which only keeps the instance's exports) is private in the package's types.
  const Codec = ReedSolomonErasure as unknown as new (exports: WebAssembly.Exports) => ReedSolomonErasure;
  return new Codec(new WebAssembly.Instance(compiled).exports);
}

function codecFailed(op: string, code: number): never {
  throw new PlexusError(
    'PLX_INTERNAL',
    `Reed-Solomon ${op} failed: ${ReedSolomonErasure.getResultMessage(code)}`,
  );
}

/**
 * Bytes of each piece coded per codec call. Reed-Solomon works column by column (byte j of every
 * parity piece depends only on byte j of the data pieces), so a segment is coded in column stripes:
 * 32 pieces × 256 KiB stay in cache and the WASM heap stays small, instead of growing by the whole
 * segment (64 MiB at the defaults) on every call (docs/storage.md, "Codec").
 *
 * @example const callsPerPiece = Math.ceil(pieceBytes / STRIPE_BYTES);
 */
export const STRIPE_BYTES = 256 * 1024;

/**
 * Runs one codec operation per column stripe of `buf` (n pieces of `size` bytes back to back):
 * copies the stripe of the pieces in `from` into a small buffer, runs `op` on it with a fresh
 * codec, copies the stripe of the pieces in `to` back.
 */
function byStripes(
  buf: Uint8Array,
  n: number,
  size: number,
  from: readonly number[],
  to: readonly number[],
  op: (codec: ReedSolomonErasure, stripe: Uint8Array) => number,
  name: string,
): void {
  for (let off = 0; off < size; off += STRIPE_BYTES) {
    const width = Math.min(STRIPE_BYTES, size - off);
    const stripe = new Uint8Array(width * n);
    for (const i of from) stripe.set(buf.subarray(i * size + off, i * size + off + width), i * width);
    const rc = op(wasm(), stripe);
    if (rc !== ReedSolomonErasure.RESULT_OK) codecFailed(name, rc);
    for (const i of to) buf.set(stripe.subarray(i * width, (i + 1) * width), i * size + off);
  }
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** Fills the parity pieces of `buf` (n pieces of `size` bytes, data pieces filled). */
function encodeInPlace(buf: Uint8Array, k: number, m: number, size: number): void {
  byStripes(buf, k + m, size, range(0, k), range(k, k + m), (c, s) => c.encode(s, k, m), 'encode');
}

/**
 * Codes one segment into K + M pieces of equal length (views into one buffer).
 *
 * @example const pieces = encodeSegment(bytes, 4, 2); // 6 pieces of ceil(bytes.length / 4) bytes
 */
export function encodeSegment(segment: Uint8Array, dataPieces: number, parityPieces: number): Uint8Array[] {
  checkParams({ dataPieces, parityPieces, segmentBytes: Math.max(dataPieces, segment.length), leafBytes: 1 });
  const size = pieceBytesOf(segment.length, dataPieces);
  const n = dataPieces + parityPieces;
  // Validated above: the WASM panics (an unrecoverable trap) on an empty or mis-sized buffer.
  const buf = new Uint8Array(size * n);
  buf.set(segment);
  encodeInPlace(buf, dataPieces, parityPieces, size);
  return Array.from({ length: n }, (_, i) => buf.subarray(i * size, (i + 1) * size));
}

/**
 * Rebuilds the K data pieces of a segment from any K of its pieces (`undefined` where missing; if
 * more than K are given, the first K are used, data pieces first, so no work is done when all data
 * pieces are present). Returns the segment's first `segmentLength` bytes.
 *
 * @example const bytes = decodeSegment([p0, undefined, p2, p3, p4, undefined], 4, 2, length);
 */
export function decodeSegment(
  pieces: ReadonlyArray<Uint8Array | undefined>,
  dataPieces: number,
  parityPieces: number,
  segmentLength: number,
): Uint8Array {
  const data = rebuildData(pieces, dataPieces, parityPieces, pieceBytesOf(segmentLength, dataPieces));
  return data.subarray(0, segmentLength);
}

/**
 * All K + M pieces of a segment from any K of them: what a repair computes before placing the
 * missing ones on new holders (the codec rebuilds data pieces only; parity is coded again).
 *
 * @example const all = rebuildPieces(somePieces, 4, 2, pieceBytes); // all[5] is parity piece 1
 */
export function rebuildPieces(
  pieces: ReadonlyArray<Uint8Array | undefined>,
  dataPieces: number,
  parityPieces: number,
  pieceBytes: number,
): Uint8Array[] {
  const data = rebuildData(pieces, dataPieces, parityPieces, pieceBytes);
  const n = dataPieces + parityPieces;
  const buf = new Uint8Array(pieceBytes * n);
  buf.set(data);
  encodeInPlace(buf, dataPieces, parityPieces, pieceBytes);
  return Array.from({ length: n }, (_, i) => buf.subarray(i * pieceBytes, (i + 1) * pieceBytes));
}

/** K·pieceBytes bytes: the data pieces back to back. */
function rebuildData(
  pieces: ReadonlyArray<Uint8Array | undefined>,
  k: number,
  m: number,
  size: number,
): Uint8Array {
  const n = k + m;
  if (pieces.length !== n)
    throw new PlexusError('PLX_VALIDATION', `expected ${n} piece slots, got ${pieces.length}`);
  const use: boolean[] = new Array(n).fill(false);
  let have = 0;
  for (let i = 0; i < n && have < k; i++) {
    const p = pieces[i];
    if (p === undefined) continue;
    if (p.length !== size)
      throw new PlexusError('PLX_VALIDATION', `piece ${i} is ${p.length} bytes, expected ${size}`);
    use[i] = true;
    have++;
  }
  if (have < k)
    throw new PlexusError('PLX_NOT_FOUND', `only ${have} of the ${k} pieces needed are available`, {
      details: { have, need: k },
    });
  const buf = new Uint8Array(size * n);
  for (let i = 0; i < n; i++) if (use[i]) buf.set(pieces[i]!, i * size);
  // All data pieces present: nothing to solve (the common case of a healthy read).
  if (use.slice(0, k).every(Boolean)) return buf.subarray(0, k * size);
  const present = range(0, n).filter((i) => use[i]);
  byStripes(buf, n, size, present, range(0, k), (c, s) => c.reconstruct(s, k, m, use), 'reconstruct');
  return buf.subarray(0, k * size);
}

/** sha256 of bytes as 0x-hex. */
function sha256Hex(bytes: Uint8Array): Hex {
  return `0x${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Codes a whole object: its manifest (roots of every piece) and its pieces, `pieces[segment][index]`.
 *
 * @example
 * const { manifest, pieces } = encodeObject(bytes, { ...DEFAULT_ERASURE, dataPieces: 4, parityPieces: 2 });
 */
export function encodeObject(
  object: Uint8Array,
  params: ErasureParams = DEFAULT_ERASURE,
): { manifest: ObjectManifest; pieces: Uint8Array[][] } {
  checkParams(params);
  const { dataPieces: k, parityPieces: m, segmentBytes, leafBytes } = params;
  const count = Math.max(1, Math.ceil(object.length / segmentBytes));
  const segments: SegmentManifest[] = [];
  const pieces: Uint8Array[][] = [];
  for (let s = 0; s < count; s++) {
    const bytes = object.subarray(s * segmentBytes, Math.min(object.length, (s + 1) * segmentBytes));
    const coded = encodeSegment(bytes, k, m);
    pieces.push(coded);
    segments.push({
      bytes: bytes.length,
      pieceBytes: coded[0]!.length,
      pieceRoots: coded.map((p) => PieceTree.build(p, leafBytes).root),
    });
  }
  const manifest: ObjectManifest = {
    dataPieces: k,
    parityPieces: m,
    segmentBytes,
    leafBytes,
    objectId: sha256Hex(object),
    objectBytes: object.length,
    segments,
  };
  return { manifest, pieces };
}

/**
 * Checks that a manifest (which may come off the wire) is self-consistent: parameters in range,
 * the segment count and sizes that its object size implies, K + M roots of 32 bytes per segment.
 * Throws PLX_VALIDATION otherwise, so decoding never indexes past what the manifest promised.
 *
 * @example checkManifest(manifest); // then decodeObject(manifest, …)
 */
export function checkManifest(manifest: ObjectManifest): void {
  checkParams(manifest);
  const { dataPieces: k, parityPieces: m, segmentBytes, objectBytes, segments } = manifest;
  const bad = (why: string): never => {
    throw new PlexusError('PLX_VALIDATION', `inconsistent manifest: ${why}`, {
      details: { objectId: manifest.objectId },
    });
  };
  if (!/^0x[0-9a-f]{64}$/.test(manifest.objectId)) bad('object id');
  if (!Number.isSafeInteger(objectBytes) || objectBytes < 0) bad('object size');
  const count = Math.max(1, Math.ceil(objectBytes / segmentBytes));
  if (!Array.isArray(segments) || segments.length !== count) bad(`expected ${count} segments`);
  segments.forEach((seg, s) => {
    const bytes = Math.min(segmentBytes, objectBytes - s * segmentBytes);
    if (seg.bytes !== Math.max(0, bytes)) bad(`segment ${s} size`);
    if (seg.pieceBytes !== pieceBytesOf(seg.bytes, k)) bad(`segment ${s} piece size`);
    if (seg.pieceRoots.length !== k + m || !seg.pieceRoots.every((r) => /^0x[0-9a-f]{64}$/.test(r)))
      bad(`segment ${s} roots`);
  });
}

/**
 * Checks a piece against the root the manifest recorded for it.
 *
 * @example checkPiece(manifest, 0, 3, bytes) // null when good, else 'length' or 'root'
 */
export function checkPiece(
  manifest: ObjectManifest,
  segment: number,
  index: number,
  piece: Uint8Array,
): RejectedPiece['reason'] | null {
  const seg = manifest.segments[segment];
  if (seg === undefined) throw new RangeError(`no segment ${segment}`);
  if (piece.length !== seg.pieceBytes) return 'length';
  return PieceTree.build(piece, manifest.leafBytes).root === seg.pieceRoots[index] ? null : 'root';
}

/**
 * Decodes an object from pieces fetched by `getPiece` (undefined: not available). Every piece is
 * checked against its root first; a bad one is reported in `rejected` and never decoded. Pieces are
 * asked for in index order (data pieces first, so a healthy read decodes nothing) until K valid
 * ones are in hand; a network reader that races its fetches hands over whichever arrived (the rest
 * as undefined), which is how it reads the fastest K. The result's sha256 is checked against the object id.
 *
 * @example const { bytes, rejected } = decodeObject(manifest, (s, i) => store.get(`${s}/${i}`));
 */
export function decodeObject(
  manifest: ObjectManifest,
  getPiece: (segment: number, index: number) => Uint8Array | undefined,
): { bytes: Uint8Array; rejected: RejectedPiece[] } {
  checkManifest(manifest);
  const { dataPieces: k, parityPieces: m } = manifest;
  const out = new Uint8Array(manifest.objectBytes);
  const rejected: RejectedPiece[] = [];
  manifest.segments.forEach((seg, s) => {
    const slots: (Uint8Array | undefined)[] = new Array(k + m).fill(undefined);
    let valid = 0;
    for (let i = 0; i < k + m && valid < k; i++) {
      const piece = getPiece(s, i);
      if (piece === undefined) continue;
      const bad = checkPiece(manifest, s, i, piece);
      if (bad !== null) {
        rejected.push({ segment: s, index: i, reason: bad });
        continue;
      }
      slots[i] = piece;
      valid++;
    }
    out.set(decodeSegment(slots, k, m, seg.bytes), s * manifest.segmentBytes);
  });
  if (sha256Hex(out) !== manifest.objectId)
    throw new PlexusError('PLX_DIGEST_MISMATCH', 'decoded bytes do not hash to the object id', {
      details: { objectId: manifest.objectId },
    });
  return { bytes: out, rejected };
}

/**
 * Repair of one segment: from any K valid pieces, rebuilds the pieces at `missing` and checks each
 * against its recorded root before it may be placed on a new holder.
 *
 * @example const rebuilt = repairSegment(manifest, 0, slots, [1, 5]); // Map { 1 => …, 5 => … }
 */
export function repairSegment(
  manifest: ObjectManifest,
  segment: number,
  pieces: ReadonlyArray<Uint8Array | undefined>,
  missing: readonly number[],
): Map<number, Uint8Array> {
  checkManifest(manifest);
  const seg = manifest.segments[segment];
  if (seg === undefined) throw new RangeError(`no segment ${segment}`);
  const checked = pieces.map((p, i) =>
    p !== undefined && checkPiece(manifest, segment, i, p) === null ? p : undefined,
  );
  const all = rebuildPieces(checked, manifest.dataPieces, manifest.parityPieces, seg.pieceBytes);
  const out = new Map<number, Uint8Array>();
  for (const i of missing) {
    const piece = all[i];
    if (piece === undefined || checkPiece(manifest, segment, i, piece) !== null)
      throw new PlexusError('PLX_DIGEST_MISMATCH', `rebuilt piece ${segment}/${i} does not match its root`);
    out.set(i, piece);
  }
  return out;
}
