import { MAX_REGION_BONUS } from './constants.ts';

/** One provider's standing in an epoch, as emission sees it. */
export type EmissionCandidate = {
  address: string;
  /** Proven capacity (capability-proof throughput, or the proxy in docs/market.md); ≥ 0. */
  capacity: number;
  /** Milliseconds it was connected during the epoch. */
  uptimeMs: number;
  /** A proven fault (outvoted, canary, bad reveal) during the epoch: no emission. */
  faulted: boolean;
  region: string;
};

/**
 * Splits an epoch's emission among providers that were online and had no proven fault, in
 * proportion to capacity × uptime share × (1 + region bonus). A region's bonus is
 * `MAX_REGION_BONUS × (1 − its share of eligible providers × number of regions)`, floored at 0:
 * a region holding its fair share (or more) gets none, a region far below it up to +50%.
 * Amounts are integers that sum to exactly `emission` (remainders go to the largest fractions),
 * or nothing when nobody is eligible.
 *
 * @example
 * shareEmission(100n, 60_000, [{ address: a, capacity: 1, uptimeMs: 60_000, faulted: false, region: 'eu' }]);
 * // Map { a => 100n }
 */
export function shareEmission(
  emission: bigint,
  epochMs: number,
  candidates: readonly EmissionCandidate[],
): Map<string, bigint> {
  const eligible = candidates.filter(
    (c) => !c.faulted && c.uptimeMs > 0 && c.capacity > 0 && Number.isFinite(c.capacity),
  );
  const out = new Map<string, bigint>();
  if (emission <= 0n || eligible.length === 0) return out;
  const byRegion = new Map<string, number>();
  for (const c of eligible) byRegion.set(c.region, (byRegion.get(c.region) ?? 0) + 1);
  const regions = byRegion.size;
  // Weights in integer parts per billion so the split is exact and deterministic.
  const weights = eligible.map((c) => {
    const share = (byRegion.get(c.region) ?? 0) / eligible.length;
    const bonus = Math.max(0, MAX_REGION_BONUS * (1 - share * regions));
    const uptime = Math.min(1, c.uptimeMs / Math.max(1, epochMs));
    return BigInt(Math.round(c.capacity * uptime * (1 + bonus) * 1e9));
  });
  const total = weights.reduce((a, b) => a + b, 0n);
  if (total === 0n) return out;
  let given = 0n;
  const rema: { i: number; r: bigint }[] = [];
  eligible.forEach((c, i) => {
    const num = emission * weights[i]!;
    const amount = num / total;
    given += amount;
    out.set(c.address.toLowerCase(), amount);
    rema.push({ i, r: num % total });
  });
  rema.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (let k = 0; given < emission; k++, given++) {
    const c = eligible[rema[k % rema.length]!.i]!;
    out.set(c.address.toLowerCase(), out.get(c.address.toLowerCase())! + 1n);
  }
  for (const [a, v] of out) if (v === 0n) out.delete(a);
  return out;
}
