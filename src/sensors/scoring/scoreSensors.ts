/**
 * Quality of every device over a window (a day or an epoch): score = location score × data score
 * (docs/sensors.md). The data score is the per-hour quality of src/sensors/quality (range,
 * jump/spike, frozen, gaps) with the anomaly detector, times the share of hours that agree with
 * neighbouring devices; a device copying another's stream or sitting indoors scores 0. The
 * location score is 0 for an impossible position (off the globe, at sea, far from the claim,
 * teleporting between batches), else 1.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../coordinator/store/schema.ts';
import { DEFAULT_ALERT_THRESHOLD } from '../../intelligence/anomaly/constants.ts';
import { detectAnomalies } from '../../intelligence/anomaly/detectAnomalies.ts';
import { MAX_DISTANCE_FROM_CLAIM_KM, MAX_PLAUSIBLE_SPEED_KMH, NEIGHBOUR_RADIUS_KM } from '../constants.ts';
import { scoreHours } from '../quality/scoreHours.ts';
import type { Reading } from '../quality/types.ts';
import { stationModels } from '../stationModels.ts';
import { distanceKm, isOnGlobe } from './geo.ts';
import { isOnLand } from './landMask.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Readings before the window the detector learns from (it scores only the window). */
const DETECTOR_LOOKBACK_MS = 6 * HOUR;
/** Detector options for scoring: a smaller shape memory than NAB's (docs/sensors.md, cost). */
const DETECTOR_OPTIONS = { shapeMemory: 500 };
/** Neighbour disagreement beyond which an hour is inconsistent, per variable (hourly means). */
const SPATIAL_TOLERANCE: Record<string, number> = { temperature: 5, humidity: 25 };
/** First-difference correlation at or above which two streams are copies. */
const COPY_CORRELATION = 0.9;
/** Least common timestamps for a copy verdict. */
const COPY_MIN_POINTS = 30;
/** Indoor: daily temperature range below this … */
const INDOOR_MAX_RANGE_C = 1.5;
/** … while neighbours' median range is at least this. */
const INDOOR_NEIGHBOUR_RANGE_C = 4;

export type SensorFlag =
  | 'out-of-range'
  | 'at-sea'
  | 'far-from-claim'
  | 'teleport'
  | 'copy'
  | 'indoor'
  | 'spatial-outlier';

export type DeviceScore = {
  device: string;
  owner: string;
  readings: number;
  /** Quality checks and anomaly detector alone, in [0, 1]. */
  qualityScore: number;
  /** Share of comparable hours consistent with neighbours (1 without neighbours). */
  spatialScore: number;
  dataScore: number;
  locationScore: number;
  score: number;
  flags: SensorFlag[];
  detail: Record<string, unknown>;
};

type Dev = { address: string; owner: string; model: string; lat: number; lon: number; registered_at: number };

/**
 * Scores every registered device that sent readings in `[fromMs, toMs)`.
 *
 * @example
 * const scores = await scoreSensors(db, { fromMs: dayStart, toMs: dayStart + 86_400_000 });
 */
export async function scoreSensors(
  db: Kysely<Database>,
  w: { fromMs: number; toMs: number; anomaly?: boolean },
): Promise<DeviceScore[]> {
  const devices = (await db
    .selectFrom('sensor_devices')
    .select(['address', 'owner', 'model', 'lat', 'lon', 'registered_at'])
    .execute()) as Dev[];
  const active = new Set(
    (
      await sql<{ device: string }>`SELECT DISTINCT device FROM sensor_batches
        WHERE received_at >= ${w.fromMs - DAY} AND received_at < ${w.toMs + DAY}`.execute(db)
    ).rows.map((r) => r.device),
  );
  const out: DeviceScore[] = [];
  const series = new Map<string, Map<string, Reading[]>>(); // device → variable → readings (window)
  const trailingTemp = new Map<string, Reading[]>();
  for (const d of devices) {
    if (!active.has(d.address)) continue;
    const rows = await db
      .selectFrom('sensor_readings')
      .select(['variable', 't', 'value', 'flag'])
      .where('device', '=', d.address)
      .where('t', '>=', Math.min(w.fromMs - DETECTOR_LOOKBACK_MS, w.toMs - DAY))
      .where('t', '<', w.toMs)
      .orderBy('variable')
      .orderBy('t')
      .execute();
    const byVar = new Map<string, Reading[]>();
    const temp: Reading[] = [];
    for (const r of rows) {
      if (r.variable === 'temperature' && r.t >= w.toMs - DAY) temp.push({ t: r.t, v: r.value });
      if (r.t < w.fromMs - DETECTOR_LOOKBACK_MS) continue;
      let a = byVar.get(r.variable);
      if (!a) {
        a = [];
        byVar.set(r.variable, a);
      }
      a.push({ t: r.t, v: r.value });
    }
    if (![...byVar.values()].some((a) => a.some((r) => r.t >= w.fromMs))) continue;
    series.set(d.address, byVar);
    trailingTemp.set(d.address, temp);
  }
  const scored = devices.filter((d) => series.has(d.address));
  const neighbours = new Map<string, Dev[]>();
  for (const d of scored)
    neighbours.set(
      d.address,
      scored.filter((o) => o !== d && distanceKm(d.lat, d.lon, o.lat, o.lon) <= NEIGHBOUR_RADIUS_KM),
    );
  const hourly = new Map<string, Map<string, Map<number, number>>>();
  for (const d of scored) hourly.set(d.address, hourlyMeans(series.get(d.address)!, w.fromMs, w.toMs));
  const copies = findCopies(scored, series, w);

  for (const d of scored) {
    const rules = stationModels[d.model]!;
    const byVar = series.get(d.address)!;
    const flags: SensorFlag[] = [];
    const detail: Record<string, unknown> = {};
    // Data quality: scoreHours over the window, every variable of the model, weighted by slots.
    let weighted = 0;
    let expected = 0;
    let readings = 0;
    for (const [name, vr] of Object.entries(rules.variables)) {
      const all = byVar.get(name) ?? [];
      readings += all.filter((r) => r.t >= w.fromMs).length;
      const anomalyScores =
        w.anomaly === false || all.length === 0
          ? undefined
          : detectAnomalies(
              all.map((r) => r.v as number),
              DETECTOR_OPTIONS,
            );
      const hours = scoreHours(all, vr, {
        fromMs: w.fromMs,
        toMs: w.toMs,
        stepMs: rules.stepMs,
        ...(anomalyScores ? { anomalyScores } : {}),
        anomalyThreshold: DEFAULT_ALERT_THRESHOLD,
      });
      for (const h of hours) {
        weighted += h.score * h.expected;
        expected += h.expected;
      }
    }
    const qualityScore = expected === 0 ? 0 : weighted / expected;
    // Spatial consistency against neighbours' median hourly means.
    const mine = hourly.get(d.address)!;
    let comparable = 0;
    let consistent = 0;
    let worstVariable = 1;
    const near = neighbours.get(d.address)!;
    for (const [variable, tol] of Object.entries(SPATIAL_TOLERANCE)) {
      let n = 0;
      let ok = 0;
      for (const [hour, v] of mine.get(variable) ?? []) {
        const others = near.flatMap((o) => {
          const x = hourly.get(o.address)?.get(variable)?.get(hour);
          return x === undefined ? [] : [x];
        });
        if (others.length < 2) continue;
        n++;
        if (Math.abs(v - median(others)) <= tol) ok++;
      }
      comparable += n;
      consistent += ok;
      if (n > 0) worstVariable = Math.min(worstVariable, ok / n);
    }
    const spatialScore = comparable === 0 ? 1 : consistent / comparable;
    // One variable at odds with the neighbourhood most of the time is a broken or misplaced sensor.
    if (worstVariable < 0.5) flags.push('spatial-outlier');
    detail.spatial = { comparableHours: comparable, consistentHours: consistent, neighbours: near.length };
    // Copying another device's stream.
    const copied = copies.get(d.address);
    if (copied) {
      flags.push('copy');
      detail.copyOf = copied;
    }
    // Indoors: no diurnal cycle while neighbours have one.
    const range = dailyRange(trailingTemp.get(d.address)!);
    if (range !== undefined) {
      const nRanges = near.flatMap((o) => {
        const r = dailyRange(trailingTemp.get(o.address) ?? []);
        return r === undefined ? [] : [r];
      });
      detail.temperatureRange24h = range;
      if (nRanges.length > 0) {
        detail.neighbourRange24h = median(nRanges);
        if (range < INDOOR_MAX_RANGE_C && median(nRanges) >= INDOOR_NEIGHBOUR_RANGE_C) flags.push('indoor');
      }
    }
    // Location.
    if (!isOnLand(d.lat, d.lon)) flags.push('at-sea');
    const fixes = (
      await db
        .selectFrom('sensor_batches')
        .select(['received_at', 'lat', 'lon'])
        .where('device', '=', d.address)
        .where('received_at', '>=', w.fromMs)
        .where('received_at', '<', w.toMs)
        .where('lat', 'is not', null)
        .orderBy('received_at')
        .execute()
    ).map((f) => ({ t: f.received_at, lat: f.lat!, lon: f.lon! }));
    if (fixes.some((f) => !isOnGlobe(f.lat, f.lon))) flags.push('out-of-range');
    else {
      const far = fixes.find((f) => distanceKm(d.lat, d.lon, f.lat, f.lon) > MAX_DISTANCE_FROM_CLAIM_KM);
      if (far) flags.push('far-from-claim');
      for (let i = 1; i < fixes.length; i++) {
        const a = fixes[i - 1]!;
        const b = fixes[i]!;
        const km = distanceKm(a.lat, a.lon, b.lat, b.lon);
        const hours = Math.max(b.t - a.t, 1000) / HOUR;
        if (km > 1 && km / hours > MAX_PLAUSIBLE_SPEED_KMH) {
          flags.push('teleport');
          detail.teleport = { km, hours };
          break;
        }
      }
    }
    const locationScore = flags.some((f) =>
      ['out-of-range', 'at-sea', 'far-from-claim', 'teleport'].includes(f),
    )
      ? 0
      : 1;
    const dataScore = flags.includes('copy') || flags.includes('indoor') ? 0 : qualityScore * spatialScore;
    out.push({
      device: d.address,
      owner: d.owner,
      readings,
      qualityScore,
      spatialScore,
      dataScore,
      locationScore,
      score: locationScore * dataScore,
      flags,
      detail,
    });
  }
  return out;
}

/**
 * Stores scores of a window (kind `day` or `epoch`), replacing earlier ones of the same window.
 *
 * @example await storeScores(db, 'day', dayStart, dayStart + 86_400_000, scores);
 */
export async function storeScores(
  db: Kysely<Database>,
  kind: 'day' | 'epoch',
  fromMs: number,
  toMs: number,
  scores: readonly DeviceScore[],
  now = Date.now(),
): Promise<void> {
  for (const s of scores) {
    const row = {
      device: s.device,
      kind,
      window_start: fromMs,
      window_end: toMs,
      data_score: s.dataScore,
      location_score: s.locationScore,
      score: s.score,
      flags: JSON.stringify(s.flags),
      detail: JSON.stringify({
        ...s.detail,
        qualityScore: s.qualityScore,
        spatialScore: s.spatialScore,
        readings: s.readings,
      }),
      computed_at: now,
    };
    await db
      .insertInto('sensor_scores')
      .values(row)
      .onConflict((oc) => oc.columns(['device', 'kind', 'window_start']).doUpdateSet(row))
      .execute();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function hourlyMeans(byVar: Map<string, Reading[]>, fromMs: number, toMs: number) {
  const out = new Map<string, Map<number, number>>();
  for (const [name, rs] of byVar) {
    const sums = new Map<number, { s: number; n: number }>();
    for (const r of rs) {
      if (r.t < fromMs || r.t >= toMs || r.v === null) continue;
      const h = Math.floor(r.t / HOUR);
      const a = sums.get(h) ?? { s: 0, n: 0 };
      a.s += r.v;
      a.n++;
      sums.set(h, a);
    }
    out.set(name, new Map([...sums].map(([h, a]) => [h, a.s / a.n])));
  }
  return out;
}

/** Max − min of hourly mean temperatures over the trailing day; undefined under 12 hours of data. */
function dailyRange(temp: readonly Reading[]): number | undefined {
  const sums = new Map<number, { s: number; n: number }>();
  for (const r of temp) {
    if (r.v === null) continue;
    const h = Math.floor(r.t / HOUR);
    const a = sums.get(h) ?? { s: 0, n: 0 };
    a.s += r.v;
    a.n++;
    sums.set(h, a);
  }
  if (sums.size < 12) return undefined;
  const means = [...sums.values()].map((a) => a.s / a.n);
  return Math.max(...means) - Math.min(...means);
}

/**
 * Pairs of devices whose streams are near-identical: on common timestamps (to the step), the
 * first differences — mostly each sensor's own noise for honest neighbours — correlate at or above
 * COPY_CORRELATION for every variable both report. The later-registered device of a pair is the
 * copier. O(devices² × readings): fine for thousands of devices a window, not millions.
 */
function findCopies(
  devs: readonly Dev[],
  series: Map<string, Map<string, Reading[]>>,
  w: { fromMs: number; toMs: number },
): Map<string, string> {
  const out = new Map<string, string>();
  const keyed = new Map<string, Map<string, Map<number, number>>>();
  for (const d of devs) {
    const step = stationModels[d.model]!.stepMs;
    const m = new Map<string, Map<number, number>>();
    for (const [name, rs] of series.get(d.address)!) {
      const byT = new Map<number, number>();
      for (const r of rs)
        if (r.t >= w.fromMs && r.t < w.toMs && r.v !== null) byT.set(Math.round(r.t / step), r.v);
      m.set(name, byT);
    }
    keyed.set(d.address, m);
  }
  for (let i = 0; i < devs.length; i++) {
    for (let j = i + 1; j < devs.length; j++) {
      const a = devs[i]!;
      const b = devs[j]!;
      if (stationModels[a.model]!.stepMs !== stationModels[b.model]!.stepMs) continue;
      let checked = 0;
      let allCopied = true;
      for (const [name, sa] of keyed.get(a.address)!) {
        const sb = keyed.get(b.address)!.get(name);
        if (!sb) continue;
        const c = diffCorrelation(sa, sb);
        if (c === undefined) continue;
        checked++;
        if (c < COPY_CORRELATION) {
          allCopied = false;
          break;
        }
      }
      if (checked > 0 && allCopied) {
        const [orig, copier] = a.registered_at <= b.registered_at ? [a, b] : [b, a];
        out.set(copier.address, orig.address);
      }
    }
  }
  return out;
}

function diffCorrelation(a: Map<number, number>, b: Map<number, number>): number | undefined {
  const da: number[] = [];
  const db: number[] = [];
  for (const [k, va] of a) {
    const pa = a.get(k - 1);
    const vb = b.get(k);
    const pb = b.get(k - 1);
    if (pa === undefined || vb === undefined || pb === undefined) continue;
    da.push(va - pa);
    db.push(vb - pb);
  }
  if (da.length < COPY_MIN_POINTS) return undefined;
  const n = da.length;
  const ma = da.reduce((s, x) => s + x, 0) / n;
  const mb = db.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (da[i]! - ma) * (db[i]! - mb);
    saa += (da[i]! - ma) ** 2;
    sbb += (db[i]! - mb) ** 2;
  }
  // Two flat series (both frozen) are not evidence of copying; the frozen check handles them.
  if (saa === 0 || sbb === 0) return undefined;
  return sab / Math.sqrt(saa * sbb);
}
