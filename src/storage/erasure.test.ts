/**
 * Erasure coding: random objects of several sizes survive the loss of every combination of M
 * pieces, byte for byte; corrupted pieces are caught by their Merkle roots and never decoded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import { isPlexusError } from '../errors/PlexusError.ts';
import { Rng } from '../protocol/rng.ts';
import {
  checkManifest,
  DEFAULT_ERASURE,
  decodeObject,
  decodeSegment,
  type ErasureParams,
  encodeObject,
  encodeSegment,
  rebuildPieces,
  repairSegment,
  STRIPE_BYTES,
} from './erasure.ts';

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.nextUint32();
    out[i] = v;
    if (i + 1 < n) out[i + 1] = v >>> 8;
    if (i + 2 < n) out[i + 2] = v >>> 16;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

/** Every subset of size r of {0..n-1}. */
function* combinations(n: number, r: number, start = 0, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === r) {
    yield prefix;
    return;
  }
  for (let i = start; i < n; i++) yield* combinations(n, r, i + 1, [...prefix, i]);
}

const small: ErasureParams = { dataPieces: 4, parityPieces: 2, segmentBytes: 64 * 1024, leafBytes: 1024 };

test('objects of 0 B, 1 B, around the segment size and a few MiB decode from every K of K+M pieces', () => {
  const rng = new Rng('erasure-sizes');
  const seg = small.segmentBytes;
  const sizes = [0, 1, 2, 5, seg - 1, seg, seg + 1, 2 * seg, 3 * 1024 * 1024 + 17];
  for (const size of sizes) {
    const object = randomBytes(rng, size);
    const { manifest, pieces } = encodeObject(object, small);
    assert.equal(manifest.segments.length, Math.max(1, Math.ceil(size / seg)), `segments of ${size} B`);
    const n = small.dataPieces + small.parityPieces;
    // The 3 MiB object has 49 segments: every loss pattern on it still takes well under a second.
    for (const lost of combinations(n, small.parityPieces)) {
      const { bytes, rejected } = decodeObject(manifest, (s, i) =>
        lost.includes(i) ? undefined : pieces[s]![i],
      );
      assert.deepEqual(rejected, []);
      assert.ok(Buffer.from(bytes).equals(Buffer.from(object)), `${size} B without pieces ${lost}`);
    }
  }
});

test('every combination of M lost pieces, for several K/M (one segment each)', () => {
  const rng = new Rng('erasure-combos');
  for (const [k, m] of [
    [1, 1],
    [2, 1],
    [3, 3],
    [6, 3],
    [10, 4],
  ] as const) {
    const segment = randomBytes(rng, 10_000 + rng.int(1000));
    const pieces = encodeSegment(segment, k, m);
    assert.equal(pieces.length, k + m);
    for (const lost of combinations(k + m, m)) {
      const slots = pieces.map((p, i) => (lost.includes(i) ? undefined : p));
      const back = decodeSegment(slots, k, m, segment.length);
      assert.ok(Buffer.from(back).equals(Buffer.from(segment)), `K=${k} M=${m} lost ${lost}`);
      // A repair rebuilds the lost pieces, parity included, exactly.
      const all = rebuildPieces(slots, k, m, pieces[0]!.length);
      for (const i of lost) assert.ok(Buffer.from(all[i]!).equals(Buffer.from(pieces[i]!)), `piece ${i}`);
    }
  }
});

test('the defaults (K=16, M=16) decode from 200 random loss patterns of M pieces', () => {
  const rng = new Rng('erasure-defaults');
  const params = { ...DEFAULT_ERASURE, segmentBytes: 256 * 1024 };
  const object = randomBytes(rng, 600_000);
  const { manifest, pieces } = encodeObject(object, params);
  const n = params.dataPieces + params.parityPieces;
  for (let t = 0; t < 200; t++) {
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rng.next() - 0.5);
    const lost = new Set(order.slice(0, params.parityPieces));
    const { bytes } = decodeObject(manifest, (s, i) => (lost.has(i) ? undefined : pieces[s]![i]));
    assert.ok(
      Buffer.from(bytes).equals(Buffer.from(object)),
      'Buffer.from(bytes).equals(Buffer.from(object))',
    );
  }
});

test('pieces longer than a codec stripe: the same parity as one whole-buffer codec call, and every loss decodes', () => {
  const rng = new Rng('erasure-stripes');
  const k = 4;
  const m = 2;
  const segment = randomBytes(rng, k * (2 * STRIPE_BYTES + 1000) - 3);
  const pieces = encodeSegment(segment, k, m);
  const size = pieces[0]!.length;
  assert.ok(size > 2 * STRIPE_BYTES, 'size > 2 * STRIPE_BYTES');
  // The codec in one call over the whole segment (fresh instance), for reference.
  const whole = new Uint8Array(size * (k + m));
  whole.set(segment);
  const path = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm');
  const Codec = ReedSolomonErasure as unknown as new (exports: WebAssembly.Exports) => ReedSolomonErasure;
  const codec = new Codec(new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path))).exports);
  assert.equal(codec.encode(whole, k, m), ReedSolomonErasure.RESULT_OK);
  for (let i = 0; i < k + m; i++)
    assert.ok(
      Buffer.from(pieces[i]!).equals(Buffer.from(whole.subarray(i * size, (i + 1) * size))),
      `piece ${i}`,
    );
  for (const lost of combinations(k + m, m)) {
    const slots = pieces.map((p, i) => (lost.includes(i) ? undefined : p));
    assert.ok(
      Buffer.from(decodeSegment(slots, k, m, segment.length)).equals(Buffer.from(segment)),
      `lost ${lost}`,
    );
  }
});

test('fewer than K pieces is an error, not wrong bytes', () => {
  const object = randomBytes(new Rng('few'), 5000);
  const { manifest, pieces } = encodeObject(object, small);
  assert.throws(
    () => decodeObject(manifest, (s, i) => (i < 3 ? undefined : pieces[s]![i])),
    (e) => isPlexusError(e, 'PLX_NOT_FOUND'),
  );
});

test('corrupted pieces are detected by their roots and not used', () => {
  const rng = new Rng('corrupt');
  const object = randomBytes(rng, 150_000);
  const { manifest, pieces } = encodeObject(object, small);
  // One flipped byte in data piece 1 of every segment, a truncated piece 3, parity untouched.
  const served = pieces.map((seg) =>
    seg.map((p, i) => {
      if (i === 1) {
        const bad = p.slice();
        const at = rng.int(bad.length);
        bad[at] = bad[at]! ^ 0x40;
        return bad;
      }
      return i === 3 ? p.subarray(0, p.length - 1) : p;
    }),
  );
  const { bytes, rejected } = decodeObject(manifest, (s, i) => served[s]![i]);
  assert.ok(Buffer.from(bytes).equals(Buffer.from(object)), 'Buffer.from(bytes).equals(Buffer.from(object))');
  assert.deepEqual(
    rejected.map((r) => `${r.segment}/${r.index}:${r.reason}`),
    manifest.segments.flatMap((_, s) => [`${s}/1:root`, `${s}/3:length`]),
  );
  // With a third bad piece only K−1 valid pieces are left: refused rather than decoded wrong.
  assert.throws(
    () => decodeObject(manifest, (s, i) => (i === 4 ? pieces[s]![5]! : served[s]![i])),
    (e) => isPlexusError(e, 'PLX_NOT_FOUND'),
  );
});

test('repair rebuilds lost pieces that match their recorded roots, ignoring a corrupt source', () => {
  const object = randomBytes(new Rng('repair'), 70_000);
  const { manifest, pieces } = encodeObject(object, small);
  const seg = pieces[1]!;
  const corrupt = seg[2]!.slice();
  corrupt[0] = corrupt[0]! ^ 1;
  const slots = [seg[0], undefined, corrupt, seg[3], seg[4], seg[5]];
  const rebuilt = repairSegment(manifest, 1, slots, [1, 2]);
  assert.ok(
    Buffer.from(rebuilt.get(1)!).equals(Buffer.from(seg[1]!)),
    'Buffer.from(rebuilt.get(1)!).equals(Buffer.from(seg[1]!))',
  );
  assert.ok(
    Buffer.from(rebuilt.get(2)!).equals(Buffer.from(seg[2]!)),
    'Buffer.from(rebuilt.get(2)!).equals(Buffer.from(seg[2]!))',
  );
});

test('an inconsistent manifest is refused before decoding', () => {
  const object = randomBytes(new Rng('manifest'), 150_000);
  const { manifest, pieces } = encodeObject(object, small);
  const get = (s: number, i: number) => pieces[s]![i];
  assert.equal(checkManifest(manifest), undefined);
  const seg0 = manifest.segments[0]!;
  for (const bad of [
    { ...manifest, objectBytes: manifest.objectBytes + small.segmentBytes },
    { ...manifest, segments: manifest.segments.slice(1) },
    { ...manifest, segments: [{ ...seg0, bytes: seg0.bytes - 1 }, ...manifest.segments.slice(1)] },
    { ...manifest, segments: [{ ...seg0, pieceBytes: seg0.pieceBytes + 1 }, ...manifest.segments.slice(1)] },
    {
      ...manifest,
      segments: [{ ...seg0, pieceRoots: seg0.pieceRoots.slice(1) }, ...manifest.segments.slice(1)],
    },
    { ...manifest, objectId: '0x1234' as const },
  ])
    assert.throws(
      () => decodeObject(bad, get),
      (e) => isPlexusError(e, 'PLX_VALIDATION'),
    );
});

test('bad parameters are refused before reaching the codec', () => {
  for (const p of [
    { ...small, dataPieces: 0 },
    { ...small, parityPieces: 0 },
    { ...small, dataPieces: 200, parityPieces: 57 },
    { ...small, segmentBytes: 2 },
    { ...small, leafBytes: 0 },
  ])
    assert.throws(
      () => encodeObject(new Uint8Array(10), p),
      (e) => isPlexusError(e, 'PLX_VALIDATION'),
    );
});
