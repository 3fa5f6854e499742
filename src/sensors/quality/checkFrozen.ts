import type { Reading, VariableRules } from './types.ts';

/**
 * Frozen-value check (WeatherXM `SHORT_CONST`): true for every reading of a run of identical
 * values that lasts at least `constantWindowMs` (first to last reading of the run). Empty slots
 * do not break a run (WeatherXM fills them with the last value before this check); values in the
 * exempt ranges (humidity above 95 %, illuminance at night) are never frozen.
 *
 * @example
 * const r = Array.from({ length: 1000 }, (_, i) => ({ t: i * 16_000, v: 21 }));
 * checkFrozen(r, WEATHERXM_WS1000.variables.temperature).every(Boolean); // true (4.4 h ≥ 4 h)
 */
export function checkFrozen(
  readings: readonly Reading[],
  rules: Pick<VariableRules, 'constantWindowMs' | 'constantExemptAbove' | 'constantExemptAtOrBelow'>,
): boolean[] {
  const out = new Array<boolean>(readings.length).fill(false);
  const window = rules.constantWindowMs;
  if (window === undefined) return out;
  const exempt = (v: number): boolean =>
    (rules.constantExemptAbove !== undefined && v > rules.constantExemptAbove) ||
    (rules.constantExemptAtOrBelow !== undefined && v <= rules.constantExemptAtOrBelow);

  let start = -1; // first reading of the current run
  let last = -1; // last non-empty reading of the current run
  const close = (): void => {
    if (start >= 0 && readings[last]!.t - readings[start]!.t >= window) {
      for (let i = start; i <= last; i++) if (readings[i]!.v !== null) out[i] = true;
    }
  };
  for (let i = 0; i < readings.length; i++) {
    const v = readings[i]!.v;
    if (v === null) continue;
    if (start >= 0 && v === readings[start]!.v && !exempt(v)) {
      last = i;
      continue;
    }
    close();
    start = exempt(v) ? -1 : i;
    last = i;
  }
  close();
  return out;
}
