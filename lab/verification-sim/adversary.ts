/**
 * Behaviour model of simulated providers, honest and adversarial, for the verification simulation
 * (bench/verification-sim.ts) and tests. Each behaviour decides, for one execution, what the
 * provider hands in; the verification code under test never sees the behaviour, only the output.
 */
import type { Rng } from '../../src/protocol/rng.ts';
import type { TensorSet } from '../../src/protocol/tensorSet.ts';

/**
 * A simulated provider's behaviour.
 *
 * @example
 * const cheater: Behaviour = { kind: 'wrong-sometimes', p: 0.1 };
 */
export type Behaviour =
  /** Computes correctly; its floats carry relative noise `noise` (CPU vs GPU, TF32, instruction sets). */
  | { kind: 'honest'; noise: number }
  /** Returns a wrong output on every task. */
  | { kind: 'always-wrong' }
  /** Returns a wrong output on a share `p` of tasks, correct (with noise) otherwise. */
  | { kind: 'wrong-sometimes'; p: number }
  /** Skips the work: all zeros or random numbers of the right shape. */
  | { kind: 'lazy'; mode: 'zeros' | 'random' }
  /** Tries to copy another provider's answer; with nobody to copy it sends random numbers. */
  | { kind: 'copycat' }
  /** Claims a GPU class while computing at CPU speed (honest outputs otherwise). */
  | { kind: 'fake-hardware'; actualGflops: number }
  /** Misses the lease deadline on a share `p` of tasks. */
  | { kind: 'slow'; p: number }
  /** Disconnects mid-task on a share `p` of tasks. */
  | { kind: 'disconnect'; p: number };

/**
 * The kinds a behaviour can have.
 *
 * @example
 * const kinds: BehaviourKind[] = ['honest', 'copycat'];
 */
export type BehaviourKind = Behaviour['kind'];

/**
 * What a provider does with one execution.
 *
 * @example
 * const act: ExecutionAction = executeAs(behaviour, truth, rng); if (act.action === 'abandon') tv.abandon(p);
 */
export type ExecutionAction =
  | { action: 'output'; tensors: TensorSet }
  /** Lease expires (too slow, disconnected): no output at all. */
  | { action: 'abandon' }
  /** Commits to a guess, then reveals whatever a peer revealed (copycat). */
  | { action: 'copy'; guess: TensorSet };

function mapFloats(truth: TensorSet, f: (x: number, i: number) => number): TensorSet {
  const out: TensorSet = {};
  for (const [name, t] of Object.entries(truth)) {
    if (!(t.data instanceof Float32Array)) throw new TypeError('the simulation models float32 outputs only');
    out[name] = { dtype: t.dtype, shape: t.shape, data: t.data.map(f) };
  }
  return out;
}

/**
 * An honest output: the true output with independent relative Gaussian noise per element.
 *
 * @example
 * honestOutput(truth, 1e-3, rng); // TF32-level differences
 */
export function honestOutput(truth: TensorSet, noise: number, rng: Rng): TensorSet {
  return noise === 0 ? truth : mapFloats(truth, (x) => x * (1 + noise * rng.normal()));
}

/**
 * A wrong output a cheater might send: random numbers with the same scale as a real answer.
 *
 * @example
 * randomOutput(truth, rng);
 */
export function randomOutput(truth: TensorSet, rng: Rng): TensorSet {
  return mapFloats(truth, () => rng.normal() * 2);
}

/**
 * Decides what a provider with `behaviour` hands in for one execution whose true output is `truth`.
 *
 * @example
 * const act = executeAs({ kind: 'wrong-sometimes', p: 0.1 }, truth, rng);
 */
export function executeAs(behaviour: Behaviour, truth: TensorSet, rng: Rng): ExecutionAction {
  switch (behaviour.kind) {
    case 'honest':
      return { action: 'output', tensors: honestOutput(truth, behaviour.noise, rng) };
    case 'always-wrong':
      return { action: 'output', tensors: randomOutput(truth, rng) };
    case 'wrong-sometimes':
      return {
        action: 'output',
        tensors: rng.next() < behaviour.p ? randomOutput(truth, rng) : honestOutput(truth, 1e-3, rng),
      };
    case 'lazy':
      return {
        action: 'output',
        tensors: behaviour.mode === 'zeros' ? mapFloats(truth, () => 0) : randomOutput(truth, rng),
      };
    case 'copycat':
      return { action: 'copy', guess: randomOutput(truth, rng) };
    case 'fake-hardware':
      return { action: 'output', tensors: honestOutput(truth, 1e-6, rng) };
    case 'slow':
    case 'disconnect':
      return rng.next() < behaviour.p
        ? { action: 'abandon' }
        : { action: 'output', tensors: honestOutput(truth, 1e-6, rng) };
  }
}
