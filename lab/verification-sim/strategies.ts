/**
 * What each kind of provider in the strategic harness (strategic.ts) returns for an assignment:
 * honest output with measured noise, or one of the adversaries' strategies.
 */

import { hashUnit, type Rng } from '../../src/protocol/rng.ts';
import type { TensorSet } from '../../src/protocol/tensorSet.ts';

export type Noise = { differingShare: number; quantiles: number[] };
export type Kind =
  | 'honest'
  | 'genesis'
  | 'lazy'
  | 'onePercent'
  | 'nearMiss'
  | 'largeTasks'
  | 'ring'
  | 'trustFarmer'
  | 'sybil'
  | 'withdrawer';

/** A task with this timeout (s) or longer is a large one. */
export const LARGE_TIMEOUT = 600;

/** The true output of (model, input): 16 floats, a pure function of the two content ids. */
export function truthOf(model: string, input: string): TensorSet {
  const data = new Float32Array(16);
  for (let i = 0; i < 16; i++) data[i] = 0.5 + 4 * (hashUnit(model, input, String(i)) - 0.5);
  return { y: { dtype: 'float32', shape: [16], data } };
}

function mapFloats(t: TensorSet, f: (x: number, i: number) => number): TensorSet {
  const y = t.y!;
  const src = y.data as Float32Array;
  return { y: { ...y, data: Float32Array.from(src, f) } };
}

function honest(t: TensorSet, noise: Noise, rng: Rng): TensorSet {
  return mapFloats(t, (x) => {
    if (rng.next() >= noise.differingShare) return x;
    const q = noise.quantiles[rng.int(noise.quantiles.length)] ?? 0;
    return x * (1 + (rng.next() < 0.5 ? -q : q));
  });
}

/** Decides what an agent returns for one assignment: its output and whether that is a cheat. */
export function act(
  g: { kind: Kind; rng: Rng; executions: number },
  truth: TensorSet,
  a: { taskId: string; timeoutMs: number },
  noise: Noise,
): { out: TensorSet; cheat: boolean; withdraw: boolean } {
  const wrong = (): TensorSet => mapFloats(truth, () => g.rng.next() * 2 - 1);
  switch (g.kind) {
    case 'honest':
    case 'genesis':
      return { out: honest(truth, noise, g.rng), cheat: false, withdraw: false };
    case 'lazy':
    case 'sybil':
      return { out: wrong(), cheat: true, withdraw: false };
    case 'onePercent':
      return g.rng.next() < 0.01
        ? { out: wrong(), cheat: true, withdraw: false }
        : { out: honest(truth, noise, g.rng), cheat: false, withdraw: false };
    case 'nearMiss':
      // A cheaper approximation: every value 3% off (well outside rtol 1e-2, cosine still ~1).
      return {
        out: mapFloats(truth, (x, i) => x * (1 + 0.03 * Math.sin(i + 1))),
        cheat: true,
        withdraw: false,
      };
    case 'largeTasks':
      return a.timeoutMs >= LARGE_TIMEOUT * 1000
        ? { out: wrong(), cheat: true, withdraw: false }
        : { out: honest(truth, noise, g.rng), cheat: false, withdraw: false };
    case 'ring':
      // Every ring member returns the same wrong answer for the same input (out-of-band agreement).
      return {
        out: mapFloats(truth, (_x, i) =>
          hashUnit('ring', JSON.stringify(Array.from(truth.y!.data as Float32Array).slice(0, 2)), String(i)),
        ),
        cheat: true,
        withdraw: false,
      };
    case 'trustFarmer':
      return g.executions > 10
        ? { out: wrong(), cheat: true, withdraw: false }
        : { out: honest(truth, noise, g.rng), cheat: false, withdraw: false };
    case 'withdrawer':
      return { out: wrong(), cheat: true, withdraw: g.rng.next() < 0.5 };
  }
}
