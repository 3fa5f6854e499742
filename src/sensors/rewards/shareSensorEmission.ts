import type { DeviceScore } from '../scoring/scoreSensors.ts';
import { splitExact } from './splitExact.ts';

/**
 * Splits an epoch's sensor emission among device OWNERS in proportion to the sum of their
 * devices' quality scores (location × data) over the epoch. Integer amounts summing exactly to
 * `emission` (largest remainders), or nothing when no device scored above 0.
 *
 * @example
 * shareSensorEmission(100n, [{ owner: a, score: 0.5, … }, { owner: b, score: 1, … }]); // a: 33n, b: 67n
 */
export function shareSensorEmission(
  emission: bigint,
  scores: readonly Pick<DeviceScore, 'owner' | 'score'>[],
): Map<string, bigint> {
  const weights = new Map<string, bigint>();
  for (const s of scores) {
    // Parts per billion keep the split exact and deterministic.
    const w = BigInt(Math.round(Math.min(1, Math.max(0, s.score)) * 1e9));
    const o = s.owner.toLowerCase();
    weights.set(o, (weights.get(o) ?? 0n) + w);
  }
  return splitExact(emission, weights);
}
