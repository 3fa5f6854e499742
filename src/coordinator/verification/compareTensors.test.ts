import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../protocol/rng.ts';
import type { Tensor } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { compareTensorSets, compareTensors } from './compareTensors.ts';

const f32 = (xs: number[] | Float32Array, shape = [xs.length]): Tensor => ({
  dtype: 'float32',
  shape,
  data: Float32Array.from(xs),
});

function noisyCopy(t: Float32Array, rel: number, seed: string): Float32Array {
  const rng = new Rng(seed);
  return t.map((x) => x * (1 + rel * rng.normal()));
}

test('float32 outputs that differ by CPU/GPU-level noise (1e-4 relative, TF32-like 1e-3) agree', () => {
  const rng = new Rng('ref');
  const ref = Float32Array.from({ length: 4096 }, () => rng.normal() * 3);
  for (const rel of [1e-6, 1e-4, 1e-3]) {
    const cmp = compareTensors(f32(noisyCopy(ref, rel, `n${rel}`)), f32(ref));
    assert.ok(cmp.ok, `rel noise ${rel}: ${cmp.detail}`);
    assert.ok(cmp.cosine > 0.9999, 'cmp.cosine > 0.9999');
  }
});

test('lazy outputs (zeros, random, scaled) are rejected with the reason', () => {
  const rng = new Rng('ref2');
  const ref = Float32Array.from({ length: 1000 }, () => rng.normal());
  const zeros = compareTensors(f32(new Float32Array(1000)), f32(ref));
  assert.equal(zeros.ok, false);
  assert.equal(zeros.reason, 'tolerance');
  const random = compareTensors(f32(Float32Array.from({ length: 1000 }, () => rng.normal())), f32(ref));
  assert.equal(random.ok, false);
  assert.ok(random.cosine < 0.2, 'random.cosine < 0.2');
  const shifted = compareTensors(f32(ref.map((x) => x * 1.05)), f32(ref));
  assert.equal(shifted.ok, false);
  assert.match(shifted.detail, /exceed atol/);
});

test('isolated outliers are tolerated only in large tensors, and cosine catches a low-signal fake', () => {
  const big = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i));
  const oneOff = Float32Array.from(big);
  oneOff[17] = oneOff[17]! + 0.5;
  assert.ok(compareTensors(f32(oneOff), f32(big)).ok, 'one of 10k elements may be off');
  const small = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i));
  const smallOff = Float32Array.from(small);
  smallOff[3] = smallOff[3]! + 0.5;
  assert.equal(compareTensors(f32(smallOff), f32(small)).ok, false, 'no outlier allowed below 1000 elements');
  // Tensors whose every element is below atol agree (their "direction" is float noise)...
  const tinyRef = Float32Array.from({ length: 10_000 }, (_, i) => 5e-6 * Math.sin(i));
  const tinyOther = Float32Array.from({ length: 10_000 }, (_, i) => 5e-6 * Math.cos(i));
  assert.ok(
    compareTensors(f32(tinyOther), f32(tinyRef)).ok,
    'compareTensors(f32(tinyOther), f32(tinyRef)).ok',
  );
  // ...but where element-wise slack is loose, cosine similarity still rejects a different signal.
  const ref = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i));
  const fake = Float32Array.from({ length: 10_000 }, (_, i) => Math.cos(i));
  const cmp = compareTensors(f32(fake), f32(ref), {
    float32: { atol: 0, rtol: 10, minCosine: 0.9999, maxMismatchFraction: 0.5 },
  });
  assert.equal(cmp.reason, 'cosine');
  assert.ok(Math.abs(cmp.cosine) < 0.05, 'Math.abs(cmp.cosine) < 0.05');
});

test('exact dtypes, shapes, dtypes and NaN placement', () => {
  const i32 = (xs: number[]): Tensor => ({ dtype: 'int32', shape: [xs.length], data: Int32Array.from(xs) });
  assert.ok(
    compareTensors(i32([1, 2, 3]), i32([1, 2, 3])).ok,
    'compareTensors(i32([1, 2, 3]), i32([1, 2, 3])).ok',
  );
  const d = compareTensors(i32([1, 2, 4]), i32([1, 2, 3]));
  assert.equal(d.reason, 'exact');
  assert.equal(d.mismatchedElements, 1);
  assert.equal(compareTensors(f32([1, 2, 3, 4], [2, 2]), f32([1, 2, 3, 4], [4])).reason, 'shape');
  assert.equal(compareTensors(i32([1]), f32([1])).reason, 'dtype');
  assert.ok(
    compareTensors(
      f32([Number.NaN, 1, Number.POSITIVE_INFINITY]),
      f32([Number.NaN, 1, Number.POSITIVE_INFINITY]),
    ).ok,
    'compareTensors( f32([Number.NaN, 1, Number.POSITIVE_INFINITY]), f32([Number.NaN, 1, Number.POSITI...',
  );
  assert.equal(compareTensors(f32([Number.NaN, 1]), f32([0, 1])).reason, 'non-finite');
  const i64: Tensor = { dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 2n]) };
  assert.ok(
    compareTensors(i64, { ...i64, data: BigInt64Array.from([1n, 2n]) }).ok,
    'compareTensors(i64, { ...i64, data: BigInt64Array.from([1n, 2n]) }).ok',
  );
  assert.equal(compareTensors(i64, { ...i64, data: BigInt64Array.from([1n, 3n]) }).ok, false);
});

test('float16 raw bits are decoded before comparison', () => {
  // 0x3c00 = 1.0, 0x3c01 = 1.000977 (one ulp), 0x4000 = 2.0
  const h = (bits: number[]): Tensor => ({
    dtype: 'float16',
    shape: [bits.length],
    data: Uint16Array.from(bits),
  });
  assert.ok(
    compareTensors(h([0x3c00, 0x4000]), h([0x3c01, 0x4000])).ok,
    'compareTensors(h([0x3c00, 0x4000]), h([0x3c01, 0x4000])).ok',
  );
  assert.equal(compareTensors(h([0x3c00, 0x4000]), h([0x4000, 0x3c00])).ok, false);
});

test('tensor sets: every name must match, each difference is explained', () => {
  const a = {
    logits: f32([1, 2, 3]),
    ids: { dtype: 'int32', shape: [1], data: Int32Array.from([7]) } as Tensor,
  };
  const b = {
    logits: f32([1, 2, 3.0000001]),
    ids: { dtype: 'int32', shape: [1], data: Int32Array.from([7]) } as Tensor,
  };
  assert.ok(compareTensorSets(a, b).ok, 'compareTensorSets(a, b).ok');
  const c = { logits: f32([0, 0, 0]) };
  const r = compareTensorSets(c, b);
  assert.equal(r.ok, false);
  assert.equal(r.reasons.length, 2);
  assert.match(r.reasons.join('\n'), /ids: tensor missing from candidate/);
  assert.match(r.reasons.join('\n'), /logits: /);
});

test('tensorSetDigest is canonical: key order does not matter, bytes, shape and dtype do', () => {
  const x = f32([1, 2]);
  const y = f32([3]);
  assert.equal(tensorSetDigest({ x, y }), tensorSetDigest({ y, x }));
  assert.notEqual(tensorSetDigest({ x }), tensorSetDigest({ x: f32([1, 2.0000002]) }));
  assert.notEqual(tensorSetDigest({ x }), tensorSetDigest({ x: f32([1, 2], [2, 1]) }));
  assert.match(tensorSetDigest({ x }), /^0x[0-9a-f]{64}$/);
});
