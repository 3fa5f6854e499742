import { DEFAULT_ALERT_THRESHOLD, type DetectorOptions } from '../../intelligence/anomaly/constants.ts';
import { detectAnomalies } from '../../intelligence/anomaly/detectAnomalies.ts';
import { type HourScore, scoreHours } from './scoreHours.ts';
import type { Reading, StationRules } from './types.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** The quality of one device over one day. */
export type DeviceDayScore = {
  /** Mean of the 24 hourly scores, in [0, 1]. */
  score: number;
  /** Per hour, the mean over the variables the station model reports (missing variables score 0). */
  hourly: number[];
  /** Per variable, the hour-by-hour detail. */
  variables: Record<string, HourScore[]>;
};

/** Options of {@link scoreDeviceDay}. */
export type ScoreDeviceDayOptions = {
  /** Start of the day to score (UTC midnight, epoch ms). */
  dayStartMs: number;
  /** Run the anomaly detector over each variable (default true). */
  anomaly?: boolean;
  /** Anomaly score at or above which a reading counts as anomalous (default: the NAB-tuned alert threshold). */
  anomalyThreshold?: number;
  /**
   * Detector options. The shape memory dominates the cost (about `shapeMemory × shapeSegments`
   * operations per reading); a smaller memory trades some recall for speed on dense streams.
   */
  detectorOptions?: Partial<DetectorOptions>;
};

/**
 * Scores one device for one day from its raw readings per variable: range, jump/spike, frozen
 * and gap checks per hour (see `scoreHours`), plus the anomaly detector run causally over each
 * variable. Pass the previous day's readings too (as WeatherXM's QoD does): they let the frozen
 * check see runs that began yesterday and give the detector its learning period; only readings
 * inside the day are scored.
 *
 * @example
 * const day = scoreDeviceDay({ temperature, humidity, pressure, windSpeed, illuminance }, WEATHERXM_WS1000, {
 *   dayStartMs: Date.UTC(2026, 10, 21),
 * });
 * day.score; // in [0, 1]: 1 when every slot of every variable held a valid, unremarkable reading
 */
export function scoreDeviceDay(
  readingsByVariable: Readonly<Record<string, readonly Reading[]>>,
  station: StationRules,
  opts: ScoreDeviceDayOptions,
): DeviceDayScore {
  const fromMs = opts.dayStartMs;
  const toMs = fromMs + DAY;
  const variables: Record<string, HourScore[]> = {};
  const hourly = new Array<number>(24).fill(0);
  const names = Object.keys(station.variables);
  for (const name of names) {
    const rules = station.variables[name]!;
    const readings = (readingsByVariable[name] ?? []).filter((r) => r.t < toMs);
    const hours = scoreHours(readings, rules, {
      fromMs,
      toMs,
      stepMs: station.stepMs,
      ...(opts.anomaly === false
        ? {}
        : { anomalyScores: anomalyScoresOf(readings, opts.detectorOptions ?? {}) }),
      anomalyThreshold: opts.anomalyThreshold ?? DEFAULT_ALERT_THRESHOLD,
    });
    variables[name] = hours;
    for (const h of hours) {
      const i = Math.floor((h.hour - fromMs) / HOUR);
      hourly[i] = (hourly[i] ?? 0) + h.score / names.length;
    }
  }
  return { score: hourly.reduce((a, b) => a + b, 0) / 24, hourly, variables };
}

/** Detector scores aligned with `readings`; empty slots score 0 and are skipped by the detector. */
function anomalyScoresOf(readings: readonly Reading[], options: Partial<DetectorOptions>): number[] {
  const present = readings.flatMap((r) => (r.v === null ? [] : [r.v]));
  const scores = detectAnomalies(present, options);
  let k = 0;
  return readings.map((r) => (r.v === null ? 0 : scores[k++]!));
}
