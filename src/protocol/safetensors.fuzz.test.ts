/**
 * Fuzzing the safetensors decoder, which reads bytes from clients and providers: whatever the bytes,
 * it returns tensors or throws `PLX_BAD_TENSOR_FILE` — never another error, never a hang — and
 * what it accepts re-encodes to an equivalent file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isPlexusError } from '../errors/PlexusError.ts';
import { fuzzRuns } from './fuzzRuns.ts';
import {
  DTYPES,
  decodeSafetensorsFile,
  dtypeItemSize,
  encodeSafetensors,
  shapeSize,
  type Tensor,
} from './safetensors.ts';
import { tensorSetDigest } from './tensorSet.ts';

const LIMITS = { maxHeaderBytes: 64 * 1024, maxTensors: 64, maxRank: 8 };

/** Decodes or throws PLX_BAD_TENSOR_FILE; anything else fails the property. */
function decodeOrRefuse(bytes: Uint8Array): ReturnType<typeof decodeSafetensorsFile> | undefined {
  try {
    return decodeSafetensorsFile(bytes, LIMITS);
  } catch (err) {
    assert.ok(isPlexusError(err, 'PLX_BAD_TENSOR_FILE'), `unexpected ${String(err)}`);
    return undefined;
  }
}

/** A tensor of any dtype and a small shape, its elements drawn as raw bytes. */
const tensorArb: fc.Arbitrary<Tensor> = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain(({ dtype, shape }) => {
    const bytes = shapeSize(shape) * dtypeItemSize(dtype);
    return fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((raw) => {
      const buf = new ArrayBuffer(raw.length);
      new Uint8Array(buf).set(raw);
      return decodeSafetensorsFile(encodeAligned(dtype, shape, buf)).tensors.t!;
    });
  });

/** A one-tensor file whose data section is exactly `buf` (used to build arbitrary typed data). */
function encodeAligned(dtype: Tensor['dtype'], shape: number[], buf: ArrayBuffer): Uint8Array {
  const header = JSON.stringify({ t: { dtype: codeOf(dtype), shape, data_offsets: [0, buf.byteLength] } });
  const h = Buffer.from(header.padEnd(Math.ceil(header.length / 8) * 8, ' '));
  const out = new Uint8Array(8 + h.length + buf.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(new Uint8Array(buf), 8 + h.length);
  return out;
}

function codeOf(dtype: Tensor['dtype']): string {
  const codes: Record<Tensor['dtype'], string> = {
    float32: 'F32',
    float64: 'F64',
    float16: 'F16',
    int8: 'I8',
    uint8: 'U8',
    int16: 'I16',
    uint16: 'U16',
    int32: 'I32',
    uint32: 'U32',
    int64: 'I64',
    uint64: 'U64',
    bool: 'BOOL',
  };
  return codes[dtype];
}

test('fuzz: arbitrary bytes decode or are refused with PLX_BAD_TENSOR_FILE', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      decodeOrRefuse(bytes);
    }),
    fuzzRuns([
      [new Uint8Array(0)],
      [new Uint8Array(8)],
      // A header length of 2^64 − 1: must be refused, not turned into a huge allocation.
      [new Uint8Array([255, 255, 255, 255, 255, 255, 255, 255])],
    ]),
  );
});

test('fuzz: headers of arbitrary JSON are decoded or refused, never crash', () => {
  const withHeader = (header: string, data: Uint8Array): Uint8Array => {
    const h = Buffer.from(header, 'utf8');
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'I64', 'U64', 'BOOL', 'U8', 'X9'), fc.anything()),
    shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 2 ** 40 }), { maxLength: 40 }), fc.anything()),
    data_offsets: fc.oneof(
      fc.tuple(fc.integer({ min: -1, max: 64 }), fc.integer({ min: -1, max: 64 })),
      fc.anything(),
    ),
  });
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.oneof(fc.string(), fc.constant('__metadata__'), fc.constant('__proto__')),
        fc.oneof(entry, fc.anything()),
        { maxKeys: 6 },
      ),
      fc.uint8Array({ maxLength: 64 }),
      (header, data) => {
        decodeOrRefuse(withHeader(JSON.stringify(header) ?? '{}', data));
      },
    ),
    fuzzRuns<[Record<string, unknown>, Uint8Array]>([
      // An own "__proto__" key (JSON.parse makes one) must not reach an object's prototype.
      [JSON.parse('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), new Uint8Array(4)],
      // A shape whose element count overflows 2^53 with empty data.
      [{ t: { dtype: 'F32', shape: [2 ** 31, 2 ** 31], data_offsets: [0, 0] } }, new Uint8Array(0)],
    ]),
  );
});

test('fuzz: every encoded tensor set decodes to the same tensors and digest', () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__metadata__'),
        tensorArb,
        { maxKeys: 4 },
      ),
      (set) => {
        const bytes = encodeSafetensors(set);
        const back = decodeOrRefuse(bytes);
        assert.ok(back, 'an encoded file must decode');
        assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(set).sort());
        for (const [name, t] of Object.entries(set)) {
          const u: Tensor = back.tensors[name]!;
          assert.equal(u.dtype, t.dtype);
          assert.deepEqual(u.shape, t.shape);
          assert.deepEqual(
            Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength),
            Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
          );
        }
        assert.equal(tensorSetDigest(back.tensors), tensorSetDigest(set));
      },
    ),
    fuzzRuns(),
  );
});

test('fuzz: a valid file with one byte changed decodes or is refused, never crashes', () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 4 }).filter((k) => k !== '__metadata__'),
        tensorArb,
        { minKeys: 1, maxKeys: 3 },
      ),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      (set, at, value) => {
        const bytes = encodeSafetensors(set);
        bytes[at % bytes.length] = value;
        decodeOrRefuse(bytes);
      },
    ),
    fuzzRuns(),
  );
});
