import type { Tensor } from '../protocol/safetensors.ts';

export type TensorComparison = { equalShapes: boolean; maxAbsDiff: number; identical: boolean };

/**
 * Compares two sets of named tensors element by element: same names, same shapes, and the
 * largest absolute difference over all values.
 *
 * @example compareTensorSets(remote, local).maxAbsDiff <= 1e-4
 */
export function compareTensorSets(a: Record<string, Tensor>, b: Record<string, Tensor>): TensorComparison {
  const names = Object.keys(a).sort();
  if (names.join() !== Object.keys(b).sort().join())
    return { equalShapes: false, maxAbsDiff: Number.POSITIVE_INFINITY, identical: false };
  let maxAbsDiff = 0;
  let identical = true;
  for (const n of names) {
    const x = a[n]!;
    const y = b[n]!;
    if (x.dtype !== y.dtype || x.shape.join() !== y.shape.join() || x.data.length !== y.data.length) {
      return { equalShapes: false, maxAbsDiff: Number.POSITIVE_INFINITY, identical: false };
    }
    for (let i = 0; i < x.data.length; i++) {
      const d = Math.abs(Number(x.data[i]) - Number(y.data[i]));
      if (d !== 0) identical = false;
      if (d > maxAbsDiff || Number.isNaN(d)) maxAbsDiff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    }
  }
  return { equalShapes: true, maxAbsDiff, identical };
}
