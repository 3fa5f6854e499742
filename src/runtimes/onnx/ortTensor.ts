/**
 * Conversion between Plexus {@link Tensor}s (what safetensors files hold) and onnxruntime tensors.
 * The dtype names are the same on both sides; only the dtypes both support convert.
 */
import * as ort from 'onnxruntime-node';
import { DTYPES, type DType, type Tensor, type TensorData } from '../../protocol/safetensors.ts';

const SUPPORTED = new Set<string>(DTYPES);

/**
 * True when an onnxruntime element type has a Plexus dtype (and so can cross the wire).
 *
 * @example
 * isSupportedOrtType('float32'); // true
 * isSupportedOrtType('string'); // false
 */
export function isSupportedOrtType(type: string): type is DType {
  return SUPPORTED.has(type);
}

/**
 * Wraps a Plexus tensor as an onnxruntime tensor without copying its data.
 *
 * @example
 * const x = toOrtTensor({ dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) });
 */
export function toOrtTensor(t: Tensor): ort.Tensor {
  // ort's constructor is typed per dtype; the Tensor type already pairs dtype and array.
  return new ort.Tensor(t.dtype, t.data as never, t.shape);
}

/**
 * Copies an onnxruntime output into a Plexus tensor. Throws when the value is not a tensor or its
 * element type has no Plexus dtype (string, int4, …).
 *
 * @example
 * const out = fromOrtTensor('y', results.y);
 */
export function fromOrtTensor(name: string, value: ort.OnnxValue): Tensor {
  if (!(value instanceof ort.Tensor)) throw new TypeError(`output "${name}" is not a tensor`);
  if (!isSupportedOrtType(value.type))
    throw new TypeError(`output "${name}" has element type ${value.type}, which Plexus cannot encode`);
  const data = value.data;
  if (typeof data === 'string' || Array.isArray(data) || !ArrayBuffer.isView(data))
    throw new TypeError(`output "${name}" has no typed-array data`);
  // float16 may come back as a Float16Array where the runtime has one; Plexus keeps the raw bits.
  const raw =
    value.type === 'float16' && !(data instanceof Uint16Array)
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : data;
  return { dtype: value.type, shape: [...value.dims], data: raw as TensorData };
}
