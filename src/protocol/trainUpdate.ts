/**
 * The check of a `train.diloco` worker's update against its round's weights (docs/training.md,
 * "Malformed updates"): pure, so the coordinator runs it when a result arrives (before anything
 * bills it) and a validator re-runs it on the signed output and the round's weights blob to check
 * a `malformed` fault. No tfjs: names, dtypes and shapes from the decoded safetensors header, and a
 * scan of the floats for NaN and ±∞.
 *
 * - `malformed`: a weight tensor is missing, or is not float32, or has another shape. An honest
 *   worker's update is its weights after the inner loop minus the round's weights, tensor by
 *   tensor, so it always has the weights' layout: a provable fault.
 * - `nonfinite`: a weight tensor holds NaN or ±∞. An honest run can produce that (a diverging
 *   model, from the client's hyper-parameters), so this is not a fault: the update is dropped
 *   unpaid and the task runs again elsewhere.
 *
 * Tensors that are not weights (the `train/loss` scalar, anything extra) are not checked.
 */
import type { TensorSet } from './tensorSet.ts';

/** A weight tensor's expected dtype and shape. */
export type TensorLayout = Record<string, { dtype: string; shape: readonly number[] }>;

/** What is wrong with an update, and in which tensor. */
export type UpdateFault = { kind: 'malformed' | 'nonfinite'; tensor: string; why: string };

/**
 * The layout of the round's weights (names, dtypes, shapes; no data).
 *
 * @example
 * const layout = layoutOf(decodeSafetensors(weightsBytes));
 */
export function layoutOf(weights: TensorSet): TensorLayout {
  const out: TensorLayout = {};
  for (const [name, t] of Object.entries(weights)) out[name] = { dtype: t.dtype, shape: [...t.shape] };
  return out;
}

/**
 * The first fault of `update` against `layout` (weights in name order; every structural fault
 * before any non-finite value), or undefined when it has the weights' layout and finite values.
 *
 * @example
 * const bad = checkTrainUpdate(decodeSafetensors(output), layoutOf(weights)); // { kind: 'malformed', tensor: 'dense/kernel', why: 'missing' }
 */
export function checkTrainUpdate(update: TensorSet, layout: TensorLayout): UpdateFault | undefined {
  const names = Object.keys(layout).sort();
  for (const name of names) {
    const want = layout[name]!;
    const t = Object.hasOwn(update, name) ? update[name] : undefined;
    if (!t) return { kind: 'malformed', tensor: name, why: 'missing' };
    if (t.dtype !== 'float32')
      return { kind: 'malformed', tensor: name, why: `dtype ${t.dtype}, not float32` };
    const same = t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]);
    const n = want.shape.reduce((a, d) => a * d, 1);
    if (!same || !(t.data instanceof Float32Array) || t.data.length !== n)
      return {
        kind: 'malformed',
        tensor: name,
        why: `shape [${t.shape.join(',')}], not [${want.shape.join(',')}]`,
      };
  }
  for (const name of names) {
    const data = update[name]!.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      const x = data[i]!;
      // x − x is 0 for every finite x, NaN for NaN and ±∞.
      if (x - x !== 0) return { kind: 'nonfinite', tensor: name, why: `${x} at index ${i}` };
    }
  }
  return undefined;
}
