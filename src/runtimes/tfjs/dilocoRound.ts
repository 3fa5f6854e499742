/**
 * The coordinator's half of a DiLoCo round (Douillard et al. 2023, "DiLoCo: Distributed
 * Low-Communication Training of Language Models"): aggregate the workers' pseudo-gradients
 * Δ_w = θ_global − θ_w, then take one outer step of SGD with Nesterov momentum:
 *   m ← μ·m + Δ;  θ ← θ − η·(Δ + μ·m)        (the PyTorch `nesterov=True` form DiLoCo uses).
 * Pure: tensor sets in, tensor sets out, so the round manager, the local reference and the
 * benchmark share one implementation.
 */
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { AggregationConfig, OuterSgdConfig } from '../../protocol/training.ts';
import { aggregate } from './aggregation.ts';

/** What the coordinator keeps between rounds. */
export type OuterState = {
  weights: TensorSet;
  /** Nesterov momentum buffer (zeros before the first round). */
  momentum: TensorSet;
  /** The previous aggregate (centre of centered clipping; zeros before the first round). */
  lastUpdate: TensorSet;
};

/** The state before round 0: the initial weights, zero momentum and zero last update. */
export function initialOuterState(weights: TensorSet): OuterState {
  const zeros = () =>
    Object.fromEntries(
      Object.entries(weights).map(([k, t]) => [
        k,
        { dtype: 'float32' as const, shape: [...t.shape], data: new Float32Array(t.data.length) },
      ]),
    );
  return { weights, momentum: zeros(), lastUpdate: zeros() };
}

/** Names of the weights in a fixed order (the flattening order of the aggregation). */
export function weightNames(weights: TensorSet): string[] {
  return Object.keys(weights).sort();
}

/** Concatenates the float32 tensors named `names` into one vector. */
export function flatten(set: TensorSet, names: readonly string[]): Float32Array {
  let len = 0;
  for (const n of names) len += requireFloat(set, n).length;
  const out = new Float32Array(len);
  let off = 0;
  for (const n of names) {
    const d = requireFloat(set, n);
    out.set(d, off);
    off += d.length;
  }
  return out;
}

/** The inverse of {@link flatten}, shaped like `like`. */
export function unflatten(vec: Float32Array, like: TensorSet, names: readonly string[]): TensorSet {
  const out: TensorSet = {};
  let off = 0;
  for (const n of names) {
    const t = like[n] as TensorSet[string];
    out[n] = { dtype: 'float32', shape: [...t.shape], data: vec.slice(off, off + t.data.length) };
    off += t.data.length;
  }
  return out;
}

function requireFloat(set: TensorSet, name: string): Float32Array {
  const t = set[name];
  if (t?.dtype !== 'float32') throw new Error(`update lacks float32 tensor ${name}`);
  return t.data as Float32Array;
}

/**
 * `update` in the layout of `weights`: a float32 tensor of the same shape for every weight name,
 * nothing else. A worker's output is only decoded as safetensors when it arrives, so one lacking a
 * weight, with another shape or dtype, used to make {@link closeRound} throw at every attempt and
 * the job never close its round (one unverified provider stalled the job). Now each such tensor
 * becomes NaN: the robust rules treat a non-finite update as infinitely far and drop it
 * (./aggregation.ts); the plain mean turns NaN, as it follows any one worker. `bad` lists the
 * names replaced (empty: the update is used as sent, minus extra tensors).
 *
 * @example
 * const { update, bad } = conformUpdate(out, state.weights);
 */
export function conformUpdate(update: TensorSet, weights: TensorSet): { update: TensorSet; bad: string[] } {
  const out: TensorSet = {};
  const bad: string[] = [];
  for (const [name, w] of Object.entries(weights)) {
    const t = update[name];
    const same =
      t?.dtype === 'float32' &&
      t.data.length === w.data.length &&
      t.shape.length === w.shape.length &&
      t.shape.every((d, i) => d === w.shape[i]);
    if (same) out[name] = t;
    else {
      bad.push(name);
      out[name] = {
        dtype: 'float32',
        shape: [...w.shape],
        data: new Float32Array(w.data.length).fill(Number.NaN),
      };
    }
  }
  return { update: out, bad };
}

/**
 * Closes a round: aggregates `updates` (each worker's pseudo-gradient, named like the weights)
 * with `rule` and applies the outer Nesterov step. Returns the next state and the aggregate.
 *
 * @example
 * const next = closeRound(state, [d0, d1, d2, d3], { rule: 'median', … }, { lr: 0.7, momentum: 0.9 });
 */
export function closeRound(
  state: OuterState,
  updates: readonly TensorSet[],
  rule: AggregationConfig,
  outer: OuterSgdConfig,
): { state: OuterState; aggregate: TensorSet } {
  const names = weightNames(state.weights);
  const vectors = updates.map((u) => flatten(u, names));
  const agg = aggregate(vectors, rule, flatten(state.lastUpdate, names));
  const theta = flatten(state.weights, names);
  const m = flatten(state.momentum, names);
  for (let i = 0; i < theta.length; i++) {
    const g = agg[i] as number;
    const mi = outer.momentum * (m[i] as number) + g;
    m[i] = mi;
    theta[i] = (theta[i] as number) - outer.lr * (g + outer.momentum * mi);
  }
  const aggSet = unflatten(agg, state.weights, names);
  return {
    state: {
      weights: unflatten(theta, state.weights, names),
      momentum: unflatten(m, state.weights, names),
      lastUpdate: aggSet,
    },
    aggregate: aggSet,
  };
}
