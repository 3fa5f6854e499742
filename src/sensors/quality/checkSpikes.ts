import type { Reading, VariableRules } from './types.ts';

/** Result of {@link checkSpikes}, one entry per reading. */
export type SpikeFlags = {
  /** The reading is the bad member of a jump (WeatherXM `SPIKE_INST`). */
  spike: boolean[];
  /** A jump touched this reading but no median was available to tell which side is bad. */
  unidentified: boolean[];
};

/**
 * Jump/spike check after WeatherXM's raw-data check: when two consecutive readings (at most 1.5
 * steps apart) differ by more than `maxJump`, the one further from the rolling median of the
 * preceding `medianWindowMs` is the spike; later readings equal to a spike are spikes too (a
 * value stuck at the glitch). With too few readings for a median (`medianAvailability`), both
 * readings of the jump are "unidentified". Median windows look only backwards, so a reading's
 * flag never depends on the future beyond its successor.
 *
 * @example
 * // ten minutes of steady 20 °C, then one reading at 35 °C
 * const r = Array.from({ length: 40 }, (_, i) => ({ t: i * 16_000, v: i === 38 ? 35 : 20 }));
 * checkSpikes(r, WEATHERXM_WS1000.variables.temperature, 16_000).spike[38]; // true
 */
export function checkSpikes(readings: readonly Reading[], rules: VariableRules, stepMs: number): SpikeFlags {
  const n = readings.length;
  const spike = new Array<boolean>(n).fill(false);
  const unidentified = new Array<boolean>(n).fill(false);
  if (rules.maxJump === undefined) return { spike, unidentified };

  const median = rollingMedian(readings, rules.medianWindowMs, stepMs, rules.medianAvailability);
  const deviation = (i: number): number => {
    const m = median[i];
    const v = readings[i]!.v;
    return m === undefined || v === null ? Number.NaN : Math.abs(v - m);
  };
  for (let i = 1; i < n; i++) {
    const a = readings[i - 1]!;
    const b = readings[i]!;
    if (a.v === null || b.v === null || b.t - a.t > 1.5 * stepMs) continue;
    if (Math.abs(b.v - a.v) <= rules.maxJump) continue;
    const da = deviation(i - 1);
    const db = deviation(i);
    if (Number.isNaN(da) || Number.isNaN(db)) {
      unidentified[i - 1] = true;
      unidentified[i] = true;
    } else if (db > da) spike[i] = true;
    else if (da > db) spike[i - 1] = true;
  }
  for (let i = 1; i < n; i++) {
    if (spike[i - 1] && readings[i]!.v !== null && readings[i]!.v === readings[i - 1]!.v) spike[i] = true;
  }
  return { spike, unidentified };
}

/**
 * Median of the readings in `(t - windowMs, t]` for each reading, or undefined where fewer than
 * `availability` of the window's expected slots hold a value (pandas `rolling('10min').median()`).
 */
function rollingMedian(
  readings: readonly Reading[],
  windowMs: number,
  stepMs: number,
  availability: number,
): (number | undefined)[] {
  const expected = windowMs / stepMs;
  const out: (number | undefined)[] = [];
  const sorted: number[] = [];
  let lo = 0;
  for (let i = 0; i < readings.length; i++) {
    const { t, v } = readings[i]!;
    if (v !== null) insertSorted(sorted, v);
    while (readings[lo]!.t <= t - windowMs) {
      const old = readings[lo]!.v;
      if (old !== null) sorted.splice(lowerBound(sorted, old), 1);
      lo++;
    }
    if (sorted.length === 0 || sorted.length / expected < availability) out.push(undefined);
    else {
      const mid = sorted.length >> 1;
      out.push(sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2);
    }
  }
  return out;
}

function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(a: number[], x: number): void {
  a.splice(lowerBound(a, x), 0, x);
}
