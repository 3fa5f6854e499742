/**
 * Guard rails: bounds a one-step forecast by what the recent history makes plausible. A fitted
 * model extrapolates; a recursive one compounds its own errors. Neither should forecast several
 * times the largest value of the window it was fitted on (the runaway the issue found: ~2.5× the
 * window's maximum), nor a negative count.
 */

/** Options of {@link plausibleBounds}. */
export type GuardRailOptions = {
  /** How many of the latest values the bounds look at. Default 48. */
  window?: number;
  /** Headroom above the window's maximum, as a share of its range. Default 0.1. */
  headroom?: number;
  /** Lowest plausible value (0 for counts). Default 0. */
  floor?: number;
};

/**
 * `[lo, hi]` a next value can plausibly take: the latest `window` values' range, widened by
 * `headroom` of that range above (demand grows; it rarely grows past its recent peak in one
 * step), never below `floor`. An all-zero window gives `[0, 0]`, so a quiet series stays quiet.
 *
 * @example
 * plausibleBounds([3, 5, 4, 10], { window: 4 }); // [3, 10.7]
 */
export function plausibleBounds(history: readonly number[], opts: GuardRailOptions = {}): [number, number] {
  const window = opts.window ?? 48;
  const headroom = opts.headroom ?? 0.1;
  const floor = opts.floor ?? 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = Math.max(0, history.length - window); i < history.length; i++) {
    const v = history[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [floor, Number.POSITIVE_INFINITY];
  return [Math.max(floor, lo), Math.max(floor, hi + (hi - lo) * headroom)];
}

/**
 * Clamps `value` into `[lo, hi]`; a non-finite value (a diverged model) becomes the midpoint
 * of the bounds, the least committal plausible guess.
 *
 * @example
 * clampForecast(250, [0, 100]); // 100
 */
export function clampForecast(value: number, [lo, hi]: readonly [number, number]): number {
  if (!Number.isFinite(value)) return Number.isFinite(hi) ? (lo + hi) / 2 : lo;
  return Math.min(hi, Math.max(lo, value));
}
