/**
 * The simulated provider population of the verification simulation: who cheats how, and in what
 * mix. Only providers are simulated; `simulate.ts` runs every verification decision with the real
 * coordinator code.
 */
import type { Hex } from 'viem';
import type { ReputationState } from '../../src/coordinator/verification/reputation.ts';
import type { FaultKind } from '../../src/coordinator/verification/slashing.ts';
import type { Rng } from '../../src/protocol/rng.ts';
import type { Behaviour } from './adversary.ts';

/**
 * The kinds of simulated provider, as reported.
 *
 * @example
 * const label: Label = 'wrong-10%';
 */
export type Label =
  | 'honest'
  | 'always-wrong'
  | 'wrong-10%'
  | 'lazy-zeros'
  | 'lazy-random'
  | 'copycat'
  | 'fake-hardware'
  | 'slow'
  | 'disconnect';

/**
 * Share of each cheater kind among cheaters (sums to 1). Weighted towards wrong-10%, the hardest
 * kind to catch, so its detection figures rest on enough providers.
 *
 * @example
 * CHEATER_MIX.find(([k]) => k === 'wrong-10%'); // ['wrong-10%', 0.3]
 */
export const CHEATER_MIX: Array<[Label, number]> = [
  ['always-wrong', 0.15],
  ['wrong-10%', 0.3],
  ['lazy-zeros', 0.1],
  ['lazy-random', 0.1],
  ['copycat', 0.1],
  ['fake-hardware', 0.1],
  ['slow', 0.075],
  ['disconnect', 0.075],
];

/**
 * The behaviour a simulated provider of `label` follows.
 *
 * @example
 * const b = behaviourFor('copycat', 1e-3, new Rng('seed'));
 */
export function behaviourFor(label: Label, noise: number, rng: Rng): Behaviour {
  switch (label) {
    case 'honest':
      // Half the honest fleet differs from the truth like a TF32 GPU, half like another CPU.
      return { kind: 'honest', noise: rng.next() < 0.5 ? noise : 1e-6 };
    case 'always-wrong':
      return { kind: 'always-wrong' };
    case 'wrong-10%':
      return { kind: 'wrong-sometimes', p: 0.1 };
    case 'lazy-zeros':
      return { kind: 'lazy', mode: 'zeros' };
    case 'lazy-random':
      return { kind: 'lazy', mode: 'random' };
    case 'copycat':
      return { kind: 'copycat' };
    case 'fake-hardware':
      return { kind: 'fake-hardware', actualGflops: 50 }; // a fast multi-core CPU
    case 'slow':
      return { kind: 'slow', p: 0.6 };
    case 'disconnect':
      return { kind: 'disconnect', p: 0.3 };
  }
}

/** One simulated provider and what happened to it. */
export type Provider = {
  id: Hex;
  label: Label;
  behaviour: Behaviour;
  rep: ReputationState;
  stake: bigint;
  active: boolean;
  claimsGpu: boolean;
  gpuTrusted: boolean;
  tasks: number; // tasks received as primary (canaries included)
  caughtAfter: number | undefined;
  caughtBy: FaultKind | undefined;
  timeouts: number;
};

/**
 * The q-quantile of `xs` (NaN when empty).
 *
 * @example
 * quantile([3, 1, 2], 0.5); // 2
 */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
