/**
 * The bridge from demand forecasts to market pricing. The market's base price moves each epoch
 * with utilisation in bounded steps, EIP-1559 style; feeding it the *forecast* utilisation of the
 * next epoch instead of the last one moves the price ahead of a demand wave rather than after it.
 * Pure function, integer money: prices are bigint base units, the step is in basis points.
 */

/** Options of {@link forecastPriceStep}. */
export type PriceStepOptions = {
  /** Utilisation the price steers towards. Default 0.8. */
  target?: number;
  /** Largest move per epoch in basis points (1250 = 12.5%, EIP-1559's bound). Default 1250. */
  maxStepBps?: number;
  /** Price never goes below this (e.g. the providers' floor). Default 1n. */
  floor?: bigint;
};

/**
 * Next epoch's base price from the current one and the forecast demand. `forecastDemand` and
 * `capacity` are in the same unit (e.g. GPU-seconds or jobs per epoch).
 *
 * step = clamp((u − target) / target, −1, 1) · maxStep, with u = forecastDemand / capacity.
 *
 * @example
 * forecastPriceStep(1_000_000n, 90, 100); // 1_015_600n: 90% forecast vs 80% target → +156 bps
 */
export function forecastPriceStep(
  currentPrice: bigint,
  forecastDemand: number,
  capacity: number,
  opts: PriceStepOptions = {},
): bigint {
  const target = opts.target ?? 0.8;
  const maxStepBps = opts.maxStepBps ?? 1250;
  const floor = opts.floor ?? 1n;
  const utilisation = capacity > 0 ? Math.max(0, forecastDemand) / capacity : 1;
  const pressure = Math.max(-1, Math.min(1, (utilisation - target) / target));
  const stepBps = BigInt(Math.round(pressure * maxStepBps));
  const next = (currentPrice * (10_000n + stepBps)) / 10_000n;
  return next < floor ? floor : next;
}
