/**
 * Fault injection into real series: spikes, level shifts, frozen values (flatlines) and drifts
 * are written into *clean* stretches of NAB series (far from every labelled window), and a
 * detector is scored on how many it catches, how late, and how often it alerts on the untouched
 * series. Labels in NAB are sparse and partly debatable; injected faults have a known start and
 * kind, so hit rate and delay per kind can be measured, and a baseline can be held to the same
 * false-alarm rate.
 */
import type { LabelledSeries } from './types.ts';

/**
 * The injected fault kinds, in the order they cycle.
 *
 * @example
 * FAULT_KINDS.includes('flatline'); // true
 */
export const FAULT_KINDS = ['spike', 'levelShift', 'flatline', 'drift'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One injected fault: its kind, first row and length in rows. */
export type Fault = { kind: FaultKind; at: number; length: number };

/**
 * Rows each fault lasts (a spike is one reading).
 *
 * @example
 * FAULT_LENGTH.drift; // 300
 */
export const FAULT_LENGTH: Record<FaultKind, number> = {
  spike: 1,
  levelShift: 300,
  flatline: 150,
  drift: 300,
};

/** Options of {@link planFaults}. */
export type FaultPlanOptions = {
  /** Rows between fault starts. Default 600 (longer than a fault plus a refractory period). */
  spacing?: number;
  /** Rows around a fault that must lie outside every labelled window. Default 200 before, 400 after. */
  before?: number;
  after?: number;
  /** Index into {@link FAULT_KINDS} of the first fault, so kinds cycle across a whole corpus. */
  firstKind?: number;
};

/**
 * Where faults go in one series: every `spacing` rows after the NAB probation (15%, at most 750)
 * plus `before`, wherever `[at − before, at + after]` touches no labelled window and the series
 * is not flat just before `at`; kinds cycle through {@link FAULT_KINDS} so each copy holds all.
 *
 * @example
 * const faults = planFaults(series); // [{ kind: 'spike', at: 950, length: 1 }, ...]
 */
export function planFaults(series: LabelledSeries, opts: FaultPlanOptions = {}): Fault[] {
  const spacing = opts.spacing ?? 600;
  const before = opts.before ?? 200;
  const after = opts.after ?? 400;
  const firstKind = opts.firstKind ?? 0;
  const n = series.values.length;
  const inWindow = labelledRows(series);
  const faults: Fault[] = [];
  const start = Math.min(Math.floor(0.15 * n), 750) + before;
  for (let at = start; at + after < n; at += spacing) {
    let clean = true;
    for (let i = at - before; i <= at + after && clean; i++) if (inWindow[i]) clean = false;
    if (!clean || localScale(series.values, at) === 0) continue;
    faults.push({ ...nextKind(firstKind + faults.length), at });
  }
  return faults;
}

function nextKind(i: number): { kind: FaultKind; length: number } {
  const kind = FAULT_KINDS[i % FAULT_KINDS.length]!;
  return { kind, length: FAULT_LENGTH[kind] };
}

/**
 * True for rows inside a labelled window.
 *
 * @example
 * labelledRows(series).filter(Boolean).length; // rows inside windows
 */
export function labelledRows(series: LabelledSeries): boolean[] {
  return series.timestamps.map((t) => series.windows.some(([a, b]) => t >= a && t <= b));
}

/** Standard deviation of the 200 readings before `at`: the unit faults are sized in. */
function localScale(values: readonly number[], at: number): number {
  const from = Math.max(0, at - 200);
  let s = 0;
  let q = 0;
  for (let i = from; i < at; i++) {
    s += values[i]!;
    q += values[i]! * values[i]!;
  }
  const k = at - from;
  return k > 1 ? Math.sqrt(Math.max(0, q / k - (s / k) ** 2)) : 0;
}

/**
 * A copy of `values` with the faults written in, sized by the local deviation σ of the 200
 * readings before each fault:
 * - spike: one reading 6σ from the local mean, clipped into the range seen so far (an *in-range*
 *   spike: the new-extreme rule cannot see it), on the side with more room;
 * - levelShift: +3σ (or −3σ, toward the side with more room) for 300 readings;
 * - flatline: the last value repeated for 150 readings (a frozen sensor);
 * - drift: a ramp from 0 to 4σ over 300 readings, then back.
 *
 * @example
 * const faulty = injectFaults(series.values, planFaults(series));
 */
export function injectFaults(values: readonly number[], faults: readonly Fault[]): number[] {
  const out = [...values];
  for (const f of faults) {
    const sigma = localScale(values, f.at);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    let mean = 0;
    for (let i = 0; i < f.at; i++) {
      if (values[i]! < lo) lo = values[i]!;
      if (values[i]! > hi) hi = values[i]!;
      if (i >= f.at - 200) mean += values[i]! / Math.min(200, f.at);
    }
    const up = hi - mean >= mean - lo ? 1 : -1;
    const end = Math.min(out.length, f.at + f.length);
    if (f.kind === 'spike') out[f.at] = Math.min(hi, Math.max(lo, mean + up * 6 * sigma));
    if (f.kind === 'levelShift') for (let i = f.at; i < end; i++) out[i]! += up * 3 * sigma;
    if (f.kind === 'flatline') for (let i = f.at; i < end; i++) out[i] = values[f.at - 1]!;
    if (f.kind === 'drift')
      for (let i = f.at; i < end; i++) out[i]! += (up * 4 * sigma * (i - f.at + 1)) / f.length;
  }
  return out;
}

/** How one detector did on the injected faults of one kind. */
export type KindResult = { faults: number; hits: number; hitRate: number; medianDelay: number | null };

/**
 * Hits and delays: a fault is hit when an alert falls in `[at, at + max(length, 5))`; the delay
 * is the first such alert's row minus `at`.
 *
 * @example
 * scoreFaults(faultsByFile, alertsByFile).spike.hitRate;
 */
export function scoreFaults(
  faultsByFile: ReadonlyMap<string, readonly Fault[]>,
  alertsByFile: ReadonlyMap<string, readonly boolean[]>,
): Record<FaultKind, KindResult> {
  const delays: Record<FaultKind, number[]> = { spike: [], levelShift: [], flatline: [], drift: [] };
  const counts: Record<FaultKind, number> = { spike: 0, levelShift: 0, flatline: 0, drift: 0 };
  for (const [file, faults] of faultsByFile) {
    const alerts = alertsByFile.get(file) ?? [];
    for (const f of faults) {
      counts[f.kind]++;
      const end = f.at + Math.max(f.length, 5);
      for (let i = f.at; i < end; i++) {
        if (alerts[i]) {
          delays[f.kind].push(i - f.at);
          break;
        }
      }
    }
  }
  const out = {} as Record<FaultKind, KindResult>;
  for (const kind of FAULT_KINDS) {
    const d = [...delays[kind]].sort((a, b) => a - b);
    out[kind] = {
      faults: counts[kind],
      hits: d.length,
      hitRate: counts[kind] > 0 ? d.length / counts[kind] : 0,
      medianDelay: d.length > 0 ? d[(d.length - 1) >> 1]! : null,
    };
  }
  return out;
}

/**
 * False alarms per 1,000 readings on untouched series: alerts on rows after the probation that
 * lie outside every labelled window widened by `guard` rows on each side (the rows a fault could
 * have been injected into).
 *
 * @example
 * falseAlarmRate(corpus.series, cleanAlerts); // e.g. 0.8 alerts per 1,000 clean readings
 */
export function falseAlarmRate(
  series: readonly LabelledSeries[],
  alertsByFile: ReadonlyMap<string, readonly boolean[]>,
  guard = 300,
): number {
  let alerts = 0;
  let rows = 0;
  for (const s of series) {
    const inWindow = labelledRows(s);
    const near = new Array<boolean>(inWindow.length).fill(false);
    for (let i = 0; i < inWindow.length; i++) {
      if (!inWindow[i]) continue;
      for (let j = Math.max(0, i - guard); j <= Math.min(inWindow.length - 1, i + guard); j++) near[j] = true;
    }
    const a = alertsByFile.get(s.name) ?? [];
    for (let i = Math.min(Math.floor(0.15 * s.values.length), 750); i < s.values.length; i++) {
      if (near[i]) continue;
      rows++;
      if (a[i]) alerts++;
    }
  }
  return (1000 * alerts) / Math.max(rows, 1);
}

/**
 * The rolling z-score baseline: |x − mean| / sd over the previous `window` readings, alerting at
 * `k` or more, at most once per `refractory` readings (the detector's own refractory period, so
 * alerts are counted alike).
 *
 * @example
 * const alerts = zScoreAlerts(zScores(values, 500), 4, 100);
 */
export function zScores(values: readonly number[], window = 500): number[] {
  const out: number[] = [];
  let s = 0;
  let q = 0;
  for (let i = 0; i < values.length; i++) {
    const k = Math.min(i, window);
    const mean = k > 0 ? s / k : 0;
    const sd = k > 1 ? Math.sqrt(Math.max(0, q / k - mean * mean)) : 0;
    out.push(k > 1 ? Math.abs(values[i]! - mean) / (sd + 1e-9 + Math.abs(mean) * 1e-6) : 0);
    s += values[i]!;
    q += values[i]! * values[i]!;
    if (i >= window) {
      s -= values[i - window]!;
      q -= values[i - window]! ** 2;
    }
  }
  return out;
}

/**
 * Alerts of the z-score baseline at threshold `k` (see {@link zScores}).
 *
 * @example
 * zScoreAlerts([0, 5, 5, 0], 4, 2); // [false, true, false, false]
 */
export function zScoreAlerts(z: readonly number[], k: number, refractory = 100, learning = 0): boolean[] {
  let last = Number.NEGATIVE_INFINITY;
  return z.map((v, i) => {
    if (i < learning || v < k || i - last < refractory) return false;
    last = i;
    return true;
  });
}
