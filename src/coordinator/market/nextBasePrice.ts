import { bigMax } from './bigMath.ts';
import { MAX_PRICE_STEP_DENOMINATOR, MIN_BASE_PRICE, TARGET_UTILIZATION } from './constants.ts';

/**
 * The next epoch's base price of a class, EIP-1559 style: it moves by
 * `price × (u − target) / (target × 8)` (utilization in parts per million, so the step is integer arithmetic), clamped to ±1/8 (12.5%), and never below MIN_BASE_PRICE.
 * At the target it stays; fully used it rises 12.5%; idle it falls 12.5%.
 *
 * @example
 * nextBasePrice(1000_000n, 1); // 1125000n
 * nextBasePrice(1000_000n, 0); // 875000n
 */
export function nextBasePrice(price: bigint, utilization: number, target = TARGET_UTILIZATION): bigint {
  const u = BigInt(
    Math.round(Math.min(1, Math.max(0, Number.isFinite(utilization) ? utilization : 0)) * 1e6),
  );
  const t = BigInt(Math.round(Math.min(1, Math.max(0.01, target)) * 1e6));
  let delta = (price * (u - t)) / (t * MAX_PRICE_STEP_DENOMINATOR);
  const bound = price / MAX_PRICE_STEP_DENOMINATOR;
  if (delta > bound) delta = bound;
  if (delta < -bound) delta = -bound;
  const next = price + delta;
  return bigMax(next, MIN_BASE_PRICE);
}
