import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import {
  concatBatch,
  DTYPES,
  type DType,
  decodeSafetensors,
  decodeSafetensorsFile,
  encodeSafetensors,
  type Tensor,
} from './safetensors.ts';

// Byte vectors from the reference implementation's own tests (huggingface/safetensors,
// safetensors/src/tensor.rs: test_serialization, test_empty, test_serialization_forced_alignement).
// F32 [0, 1, 2, 3, 4, 5] little-endian: 1.0f = 00 00 80 3f, 2.0f = 00 00 00 40, ...
const F32_0_TO_5 = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
const REFERENCE_ATTN_DOT_0 = Uint8Array.from([
  64,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  123,
  34,
  97,
  116,
  116,
  110,
  46,
  48,
  34,
  58,
  123,
  34,
  100,
  116,
  121,
  112,
  101,
  34,
  58,
  34,
  70,
  51,
  50,
  34,
  44,
  34,
  115,
  104,
  97,
  112,
  101,
  34,
  58,
  91,
  49,
  44,
  50,
  44,
  51,
  93,
  44,
  34,
  100,
  97,
  116,
  97,
  95,
  111,
  102,
  102,
  115,
  101,
  116,
  115,
  34,
  58,
  91,
  48,
  44,
  50,
  52,
  93,
  125,
  125,
  ...F32_0_TO_5,
]);
const REFERENCE_EMPTY = Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
// Header of 65 bytes padded with 7 spaces (0x20) to 72 so the data starts 8-byte aligned.
const REFERENCE_PADDED = Uint8Array.from([
  72,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  123,
  34,
  97,
  116,
  116,
  110,
  48,
  34,
  58,
  123,
  34,
  100,
  116,
  121,
  112,
  101,
  34,
  58,
  34,
  70,
  51,
  50,
  34,
  44,
  34,
  115,
  104,
  97,
  112,
  101,
  34,
  58,
  91,
  49,
  44,
  49,
  44,
  50,
  44,
  51,
  93,
  44,
  34,
  100,
  97,
  116,
  97,
  95,
  111,
  102,
  102,
  115,
  101,
  116,
  115,
  34,
  58,
  91,
  48,
  44,
  50,
  52,
  93,
  125,
  125,
  32,
  32,
  32,
  32,
  32,
  32,
  32,
  ...F32_0_TO_5,
]);

/** Builds a file from a header string and raw data, the way the spec lays it out. */
function file(header: string, data: number[] | Uint8Array = [], declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp, limits?: Parameters<typeof decodeSafetensors>[1]): void {
  assert.throws(
    () => decodeSafetensors(bytes, limits),
    (err: unknown) => {
      assert.ok(
        isPlexusError(err, 'PLX_BAD_TENSOR_FILE'),
        `expected PLX_BAD_TENSOR_FILE, got ${String(err)}`,
      );
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('encodes byte-for-byte like the reference implementation', () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    encodeSafetensors({ 'attn.0': { dtype: 'float32', shape: [1, 2, 3], data } }),
    REFERENCE_ATTN_DOT_0,
  );
  assert.deepEqual(encodeSafetensors({}), REFERENCE_EMPTY);
  assert.deepEqual(
    encodeSafetensors({ attn0: { dtype: 'float32', shape: [1, 1, 2, 3], data } }),
    REFERENCE_PADDED,
  );
});

test('decodes the reference vectors, little-endian', () => {
  const { 'attn.0': t } = decodeSafetensors(REFERENCE_ATTN_DOT_0);
  assert.ok(t, 't');
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.shape, [1, 2, 3]);
  assert.deepEqual([...t.data], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(decodeSafetensors(REFERENCE_EMPTY), {});
  assert.deepEqual([...(decodeSafetensors(REFERENCE_PADDED).attn0?.data ?? [])], [0, 1, 2, 3, 4, 5]);
});

test('reads multi-byte integers little-endian from a hand-built file', () => {
  // I32 0x01020304 and -2, U16 0xBEEF, I64 -1, U64 2^63, F64 1.5, BOOL [1, 0]
  const bytes = file(
    '{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U16","shape":[],"data_offsets":[8,10]},' +
      '"c":{"dtype":"I64","shape":[1],"data_offsets":[10,18]},' +
      '"d":{"dtype":"U64","shape":[1],"data_offsets":[18,26]},' +
      '"e":{"dtype":"F64","shape":[1],"data_offsets":[26,34]},' +
      '"f":{"dtype":"BOOL","shape":[2],"data_offsets":[34,36]}}',
    [
      0x04, 0x03, 0x02, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xef, 0xbe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 1, 0,
    ],
  );
  const t = decodeSafetensors(bytes);
  assert.deepEqual([...(t.a?.data ?? [])], [0x01020304, -2]);
  assert.ok(t.a?.data instanceof Int32Array, 't.a?.data instanceof Int32Array');
  assert.deepEqual(t.b?.shape, []);
  assert.deepEqual([...(t.b?.data ?? [])], [0xbeef]);
  assert.deepEqual([...(t.c?.data ?? [])], [-1n]);
  assert.deepEqual([...(t.d?.data ?? [])], [2n ** 63n]);
  assert.deepEqual([...(t.e?.data ?? [])], [1.5]);
  assert.equal(t.f?.dtype, 'bool');
  assert.deepEqual([...(t.f?.data ?? [])], [1, 0]);
});

test('copies tensors whose data is not aligned for their element size', () => {
  // Header of 55 bytes, no padding: data starts at byte 63, so an F32 view would be misaligned.
  const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const bytes = file(header, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  assert.notEqual((8 + header.length) % 4, 0);
  assert.deepEqual([...(decodeSafetensors(bytes).x?.data ?? [])], [1, 2]);
  // The same file inside a larger buffer at an odd byteOffset.
  const outer = new Uint8Array(bytes.length + 1);
  outer.set(bytes, 1);
  assert.deepEqual([...(decodeSafetensors(outer.subarray(1)).x?.data ?? [])], [1, 2]);
});

test('round-trips every dtype and the metadata, deterministically', () => {
  const samples: Record<DType, Tensor['data']> = {
    float32: new Float32Array([1.5, -2, Number.NaN]),
    float64: new Float64Array([Math.PI, -0, 1e300]),
    float16: new Uint16Array([0x3c00, 0xc000, 0x7e00]),
    int8: new Int8Array([-128, 0, 127]),
    uint8: new Uint8Array([0, 1, 255]),
    int16: new Int16Array([-32768, 1, 32767]),
    uint16: new Uint16Array([0, 1, 65535]),
    int32: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]),
    uint32: new Uint32Array([0, 1, 2 ** 32 - 1]),
    int64: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]),
    uint64: new BigUint64Array([0n, 1n, 2n ** 64n - 1n]),
    bool: new Uint8Array([1, 0, 1]),
  };
  assert.deepEqual(Object.keys(samples).sort(), [...DTYPES].sort());
  const tensors: Record<string, Tensor> = {};
  for (const d of DTYPES) tensors[`t_${d}`] = { dtype: d, shape: [3, 1], data: samples[d] };
  const bytes = encodeSafetensors(tensors, { format: 'np', producer: 'plexus' });
  const decoded = decodeSafetensorsFile(bytes);
  assert.deepEqual(decoded.metadata, { format: 'np', producer: 'plexus' });
  for (const d of DTYPES) {
    const t = decoded.tensors[`t_${d}`];
    assert.ok(t, d);
    assert.equal(t.dtype, d);
    assert.deepEqual(t.shape, [3, 1]);
    assert.equal(t.data.constructor, samples[d].constructor, d);
    assert.deepEqual([...t.data], [...samples[d]], d);
  }
  // Insertion order does not change the bytes.
  const reversed = Object.fromEntries(Object.entries(tensors).reverse());
  assert.deepEqual(encodeSafetensors(reversed, { producer: 'plexus', format: 'np' }), bytes);
});

test('accepts a subarray view of a larger typed array when encoding', () => {
  const big = new Float32Array([9, 1, 2, 9]);
  const bytes = encodeSafetensors({ x: { dtype: 'float32', shape: [2], data: big.subarray(1, 3) } });
  assert.deepEqual([...(decodeSafetensors(bytes).x?.data ?? [])], [1, 2]);
});

test('refuses to encode inconsistent tensors', () => {
  assert.throws(
    () => encodeSafetensors({ x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }),
    /shape \[3\] has 3 elements but data has 2/,
  );
  assert.throws(
    () => encodeSafetensors({ x: { dtype: 'int32', shape: [2], data: new Float32Array(2) } }),
    /int32 needs a Int32Array, got Float32Array/,
  );
  assert.throws(
    () => encodeSafetensors({ __metadata__: { dtype: 'uint8', shape: [0], data: new Uint8Array(0) } }),
    /not a valid tensor name/,
  );
});

test('rejects malformed files with a precise PLX_BAD_TENSOR_FILE', () => {
  const ok = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const eight = [0, 0, 0, 0, 0, 0, 0, 0];
  rejects(new Uint8Array(4), /at least 8/);
  rejects(file(ok, eight, 2n ** 40n), /exceeds the limit/);
  rejects(file(ok, eight, 10_000n), /runs past the end/);
  rejects(file(ok, eight), /exceeds the limit of 16 bytes/, { maxHeaderBytes: 16 });
  rejects(file('[1,2]'), /JSON object/);
  rejects(file('{"x":'), /not valid JSON/);
  rejects(file('{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}', [0, 0]), /BF16 is not supported/);
  rejects(
    file('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [0, 0, 0, 0]),
    /non-negative integers/,
  );
  rejects(file('{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /non-negative/);
  rejects(file('{"x":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', eight), /shape must be an array/);
  rejects(
    file('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight),
    /needs 12 bytes but .* span 8/,
  );
  rejects(file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', eight), /two non-negative integers/);
  rejects(file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', eight), /end before they begin/);
  rejects(
    file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}', eight),
    /unknown header field/,
  );
  rejects(file('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [0, 0, 0]), /past the 3-byte data/);
  rejects(file(ok, [...eight, 1]), /1 trailing bytes/);
  rejects(
    file(
      '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      eight,
    ),
    /begin at 4 but the previous tensor ends at 8/,
  );
  rejects(file('{"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', [0, 0]), /begin at 1 .* ends at 0/);
  rejects(file('{"__metadata__":{"a":1}}'), /__metadata__ "a" must be a string/);
  rejects(
    file(
      '{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
    ),
    /more than 1 tensors/,
    { maxTensors: 1 },
  );
  rejects(file('{"x":{"dtype":"U8","shape":[1,1,1],"data_offsets":[0,1]}}', [0]), /rank 3 exceeds 2/, {
    maxRank: 2,
  });
  const invalidUtf8 = file('{"x"}');
  invalidUtf8[10] = 0xff;
  rejects(invalidUtf8, /not valid UTF-8/);
  rejects(
    file(`{"x":{"dtype":"U8","shape":[${2 ** 30},${2 ** 30},${2 ** 30}],"data_offsets":[0,1]}}`, [0]),
    /too many elements/,
  );
});

test('a tensor named __proto__ stays an ordinary own property', () => {
  const bytes = file('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [7]);
  const tensors = decodeSafetensors(bytes);
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assert.deepEqual(Object.keys(tensors), ['__proto__']);
  assert.deepEqual([...(Object.getOwnPropertyDescriptor(tensors, '__proto__')?.value.data ?? [])], [7]);
});

test('concatBatch joins tensors along the batch dimension and refuses any other mismatch', () => {
  const a: Tensor = { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) };
  const b: Tensor = { dtype: 'float32', shape: [2, 2], data: new Float32Array([3, 4, 5, 6]) };
  const ab = concatBatch([a, b]);
  assert.deepEqual(ab.shape, [3, 2]);
  assert.ok(ab.data instanceof Float32Array, 'ab.data instanceof Float32Array');
  assert.deepEqual([...ab.data], [1, 2, 3, 4, 5, 6]);
  const big = concatBatch([
    { dtype: 'int64', shape: [1], data: new BigInt64Array([7n]) },
    { dtype: 'int64', shape: [1], data: new BigInt64Array([-8n]) },
  ]);
  assert.deepEqual([...big.data], [7n, -8n]);
  assert.throws(() => concatBatch([]), RangeError);
  assert.throws(() => concatBatch([{ dtype: 'float32', shape: [], data: new Float32Array(1) }]), RangeError);
  assert.throws(
    () => concatBatch([a, { dtype: 'float32', shape: [1, 3], data: new Float32Array(3) }]),
    /tensor 1 is float32 \[1, 3\]; tensor 0 is float32 \[1, 2\]/,
  );
  assert.throws(
    () => concatBatch([a, { dtype: 'float64', shape: [1, 2], data: new Float64Array(2) }]),
    RangeError,
  );
});
