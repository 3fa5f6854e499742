import type { Reading, VariableRules } from './types.ts';

/**
 * Out-of-bounds check (WeatherXM OBC): true for each reading whose value lies outside the
 * sensor's limits. Empty slots and non-finite values are out of bounds too.
 *
 * @example
 * checkRange([{ t: 0, v: 21.5 }, { t: 16_000, v: 85 }], WEATHERXM_WS1000.variables.temperature);
 * // [false, true]
 */
export function checkRange(
  readings: readonly Reading[],
  rules: Pick<VariableRules, 'min' | 'max'>,
): boolean[] {
  return readings.map(({ v }) => v === null || !Number.isFinite(v) || v < rules.min || v > rules.max);
}
