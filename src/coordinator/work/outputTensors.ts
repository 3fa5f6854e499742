/**
 * Bridges task outputs (safetensors files, src/protocol/safetensors.ts) to the tensor sets the
 * verification modules compare (src/coordinator/verification/tensors.ts).
 */
import type { Tensor as FileTensor } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../verification/tensors.ts';

/**
 * Converts decoded safetensors tensors to a verification TensorSet. The verification dtypes have
 * no unsigned 16/32/64-bit types, so those are widened losslessly (uint16 → int32, uint32 → int64)
 * or, for uint64, reinterpreted bit for bit as int64: integer tensors are compared for exact
 * equality, which every one of these mappings preserves, and the same mapping is applied to every
 * provider's output, so digests stay comparable.
 *
 * @example
 * const set = toTensorSet(decodeSafetensors(bytes));
 * const digest = tensorSetDigest(set);
 */
export function toTensorSet(tensors: Record<string, FileTensor>): TensorSet {
  const out: TensorSet = {};
  for (const [name, t] of Object.entries(tensors)) {
    switch (t.dtype) {
      case 'uint16':
        out[name] = { dtype: 'int32', shape: t.shape, data: Int32Array.from(t.data as Uint16Array) };
        break;
      case 'uint32':
        out[name] = {
          dtype: 'int64',
          shape: t.shape,
          data: BigInt64Array.from(t.data as Uint32Array, (v) => BigInt(v)),
        };
        break;
      case 'uint64': {
        const d = t.data as BigUint64Array;
        out[name] = {
          dtype: 'int64',
          shape: t.shape,
          data: new BigInt64Array(d.buffer, d.byteOffset, d.length),
        };
        break;
      }
      default:
        out[name] = {
          dtype: t.dtype,
          shape: t.shape,
          data: t.data as Exclude<typeof t.data, Uint32Array | BigUint64Array>,
        };
    }
  }
  return out;
}
