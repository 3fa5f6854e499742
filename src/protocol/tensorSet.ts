/**
 * Named tensors (a task's inputs or outputs) and their canonical digest: the one tensor-set model
 * that providers, the coordinator, validators and tests share. Tensors are those the safetensors
 * codec decodes (`./safetensors.ts`), unchanged.
 *
 * The digest binds dtype, shape and the exact little-endian bytes of every tensor, in name order,
 * so two providers that produced the same bits get the same digest regardless of map order.
 */
import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import type { DType, Tensor } from './safetensors.ts';

/**
 * A task output: tensor name → tensor.
 *
 * @example
 * const out: TensorSet = { logits: { dtype: 'float32', shape: [2], data: new Float32Array([0.1, 0.9]) } };
 */
export type TensorSet = Record<string, Tensor>;

/**
 * True for dtypes compared with tolerance; all others must match bit for bit.
 *
 * @example
 * isFloatDType('float32'); // true
 */
export function isFloatDType(dtype: DType): dtype is 'float16' | 'float32' | 'float64' {
  return dtype === 'float16' || dtype === 'float32' || dtype === 'float64';
}

/** Digests of tensor sets already hashed (a set is never modified once built). */
const digests = new WeakMap<TensorSet, Hex>();

/**
 * Canonical sha256 digest of a tensor set, as a 0x-prefixed hex string (the `outputDigest` of a
 * result and of a commitment). A set is hashed once: the coordinator hashes a result's output when
 * it arrives and checks it against the revealed digest again while verifying, and an output is a
 * few hundred KiB. Sets are never modified after they are built.
 *
 * @example
 * const d = tensorSetDigest({ y: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
 */
export function tensorSetDigest(tensors: TensorSet): Hex {
  const known = digests.get(tensors);
  if (known) return known;
  const digest = hashTensorSet(tensors);
  digests.set(tensors, digest);
  return digest;
}

function hashTensorSet(tensors: TensorSet): Hex {
  const h = createHash('sha256');
  h.update('plexus-tensors-v1');
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name]!;
    const header = JSON.stringify([name, t.dtype, t.shape]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(Buffer.byteLength(header));
    h.update(len);
    h.update(header);
    // Typed arrays are little-endian on every platform Node supports; hash the raw bytes.
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return `0x${h.digest('hex')}`;
}

/**
 * Decodes an IEEE-754 half-precision bit pattern to a number.
 *
 * @example
 * halfToFloat(0x3c00); // 1
 */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
