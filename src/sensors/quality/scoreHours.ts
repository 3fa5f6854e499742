import { checkFrozen } from './checkFrozen.ts';
import { checkRange } from './checkRange.ts';
import { checkSpikes } from './checkSpikes.ts';
import { slotsFilled } from './findGaps.ts';
import type { QualityFlag, Reading, VariableRules } from './types.ts';

const HOUR = 3_600_000;

/** The quality of one variable of one device over one hour. */
export type HourScore = {
  /** Start of the hour, epoch ms. */
  hour: number;
  /** Slots the station model should have filled in this hour. */
  expected: number;
  /** Slots holding a reading that passed every check. */
  valid: number;
  /** Valid readings the anomaly detector flagged (counted at half weight). */
  anomalous: number;
  /** Readings rejected per reason, plus `NO_DATA` for empty slots. */
  flags: Record<QualityFlag | 'NO_DATA', number>;
  /**
   * `(valid − anomalous / 2) / expected`, in [0, 1]; 0 when fewer than `hourlyAvailability` of the
   * slots hold valid readings (WeatherXM: too little data to reward the hour).
   */
  score: number;
};

/** Options of {@link scoreHours}. */
export type ScoreHoursOptions = {
  fromMs: number;
  toMs: number;
  stepMs: number;
  /** Per-reading anomaly scores in [0, 1] (same order as the readings), e.g. from `detectAnomalies`. */
  anomalyScores?: readonly number[];
  /** Anomaly score at or above which a valid reading counts as anomalous. */
  anomalyThreshold?: number;
};

/**
 * Runs the range, jump/spike and frozen-value checks and the gap count over one variable of one
 * device, and scores each hour of `[fromMs, toMs)` (which should start on an hour boundary).
 * Anomalous readings are suspicious rather than wrong — a storm is an anomaly too — so they cost
 * half a slot each instead of a whole one.
 *
 * @example
 * const hours = scoreHours(readings, WEATHERXM_WS1000.variables.temperature, {
 *   fromMs: dayStart, toMs: dayStart + 86_400_000, stepMs: 16_000,
 * });
 * hours[0].score; // 1 for a full hour of plausible readings
 */
export function scoreHours(
  readings: readonly Reading[],
  rules: VariableRules,
  opts: ScoreHoursOptions,
): HourScore[] {
  const { fromMs, toMs, stepMs } = opts;
  const threshold = opts.anomalyThreshold ?? 1;
  const obc = checkRange(readings, rules);
  const { spike, unidentified } = checkSpikes(readings, rules, stepMs);
  const frozen = checkFrozen(readings, rules);
  const filled = slotsFilled(readings, fromMs, toMs, stepMs);
  const hours: HourScore[] = [];
  for (let h = fromMs; h < toMs; h += HOUR) {
    const expected = Math.round(Math.min(HOUR, toMs - h) / stepMs);
    hours.push({
      hour: h,
      expected,
      valid: 0,
      anomalous: 0,
      flags: { OBC: 0, SPIKE_INST: 0, UNIDENTIFIED_SPIKE: 0, CONSTANT: 0, ANOMALY: 0, NO_DATA: 0 },
      score: 0,
    });
  }
  for (let s = 0; s < filled.length; s++) {
    if (filled[s] === 0) hours[Math.floor((s * stepMs) / HOUR)]!.flags.NO_DATA++;
  }
  // One verdict per slot: the first reading that falls in a slot decides it.
  const seen = new Set<number>();
  readings.forEach((r, i) => {
    if (r.v === null || r.t < fromMs || r.t >= toMs) return;
    const slot = Math.floor((r.t - fromMs) / stepMs);
    if (seen.has(slot)) return;
    seen.add(slot);
    const hour = hours[Math.floor((r.t - fromMs) / HOUR)]!;
    if (obc[i]) hour.flags.OBC++;
    else if (spike[i]) hour.flags.SPIKE_INST++;
    else if (unidentified[i]) hour.flags.UNIDENTIFIED_SPIKE++;
    else if (frozen[i]) hour.flags.CONSTANT++;
    else {
      hour.valid++;
      if ((opts.anomalyScores?.[i] ?? 0) >= threshold) {
        hour.anomalous++;
        hour.flags.ANOMALY++;
      }
    }
  });
  for (const h of hours) {
    const available = h.expected === 0 ? 0 : h.valid / h.expected;
    h.score =
      available < rules.hourlyAvailability
        ? 0
        : Math.min(1, Math.max(0, (h.valid - h.anomalous / 2) / h.expected));
  }
  return hours;
}
