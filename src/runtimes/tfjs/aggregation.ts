/**
 * Aggregation of the workers' pseudo-gradients into one update (docs/training.md cites each rule).
 * Pure functions over flat Float32Arrays of equal length, one per worker; no TF.js, so the
 * coordinator aggregates without loading a training backend.
 *
 * - `mean`: the plain average; one worker can move it anywhere.
 * - `median`: coordinate-wise median (Yin, Chen, Ramchandran, Bartlett, ICML 2018).
 * - `trimmed-mean`: per coordinate, drop the ⌊β·n⌋ smallest and largest values and average the
 *   rest (Yin et al. 2018); tolerates up to ⌊β·n⌋ Byzantine workers.
 * - `centered-clip`: start from a centre v (the previous round's aggregate) and repeat L times
 *   v ← v + (1/n)·Σ clip_τ(x_i − v), clip_τ(z) = z·min(1, τ/‖z‖) (Karimireddy, He, Jaggi,
 *   ICML 2021). τ is ρ × the median of the distances ‖x_i − v‖ at each iteration, ρ =
 *   `clipRadius` (default 1; the paper leaves τ to be tuned; the median keeps it scale-free and
 *   below any minority of outliers). An update with a NaN or infinite coordinate is infinitely far
 *   and adds nothing (its clip has no direction).
 * - `multi-krum`: score each update by the sum of squared distances to its n − f − 2 nearest
 *   others, average the m = n − f best-scored (Blanchard, El Mhamdi, Guerraoui, Stainer,
 *   NeurIPS 2017). f, the number of Byzantine workers tolerated, is the spec's `byzantine` or
 *   ⌊β·n⌋ (the count the trimmed mean drops at each end): the threat model, never tuned.
 */
import { PlexusError } from '../../errors/PlexusError.ts';
import type { AggregationConfig } from '../../protocol/training.ts';

/**
 * Aggregates `updates` (one flat vector per worker) with the configured rule. `centre` is the
 * starting point of centered clipping (the previous aggregate; zeros when absent).
 *
 * @example
 * aggregate([a, b, c], { rule: 'median', trimFraction: 0.25, clipIterations: 3 });
 */
export function aggregate(
  updates: readonly Float32Array[],
  config: AggregationConfig,
  centre?: Float32Array,
): Float32Array {
  if (updates.length === 0) throw new Error('nothing to aggregate');
  const len = (updates[0] as Float32Array).length;
  for (const u of updates) if (u.length !== len) throw new Error('updates differ in length');
  switch (config.rule) {
    case 'mean':
      return mean(updates);
    case 'median':
      return coordinateMedian(updates);
    case 'trimmed-mean':
      return trimmedMean(updates, Math.floor(config.trimFraction * updates.length));
    case 'centered-clip':
      return centeredClip(
        updates,
        centre ?? new Float32Array(len),
        config.clipIterations,
        config.clipRadius ?? 1,
      );
    case 'multi-krum':
      return multiKrum(updates, krumByzantine(config, updates.length));
  }
}

/**
 * f of Multi-Krum for `n` workers: the spec's `byzantine`, else ⌊trimFraction·n⌋. Throws
 * PLX_TRAIN_AGGREGATION_INVALID when n − f − 2 < 1 (no neighbour to score by).
 *
 * @example
 * krumByzantine({ rule: 'multi-krum', trimFraction: 0.25, clipIterations: 3 }, 8); // 2
 */
export function krumByzantine(config: AggregationConfig, n: number): number {
  const f = config.byzantine ?? Math.floor(config.trimFraction * n);
  if (n - f - 2 < 1)
    throw new PlexusError(
      'PLX_TRAIN_AGGREGATION_INVALID',
      `multi-krum with ${n} workers tolerating f = ${f} Byzantine: each update needs n − f − 2 ≥ 1 neighbours to be scored by (at most f = ${Math.max(0, n - 3)}, and at least 3 workers)`,
      { details: { rule: 'multi-krum', workers: n, byzantine: f, maxByzantine: Math.max(0, n - 3) } },
    );
  return f;
}

/**
 * The spec-time check of the aggregation rule against the job's W workers (a round aggregates
 * exactly W accepted updates): PLX_TRAIN_AGGREGATION_INVALID when the rule cannot run on them.
 */
export function checkAggregation(config: AggregationConfig, workers: number): void {
  if (config.rule === 'multi-krum') krumByzantine(config, workers);
  if (config.byzantine !== undefined && config.byzantine >= workers)
    throw new PlexusError(
      'PLX_TRAIN_AGGREGATION_INVALID',
      `byzantine ${config.byzantine} is not fewer than the ${workers} workers`,
      { details: { workers, byzantine: config.byzantine } },
    );
}

/**
 * The indices Multi-Krum selects (Blanchard et al. 2017): score(i) = Σ of the squared distances
 * from update i to its n − f − 2 nearest other updates; the m lowest scores win (ties: the lower
 * index), returned in ascending score order. Distances summed in float64.
 */
export function krumSelection(updates: readonly Float32Array[], f: number, m = updates.length - f): number[] {
  const n = updates.length;
  const k = n - f - 2;
  if (f < 0 || k < 1) throw new Error(`multi-krum needs n − f − 2 ≥ 1 (n = ${n}, f = ${f})`);
  if (m < 1 || m > n) throw new Error(`multi-krum selects 1 to ${n} updates, not ${m}`);
  const len = (updates[0] as Float32Array).length;
  const d2 = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const a = updates[i] as Float32Array;
      const b = updates[j] as Float32Array;
      let s = 0;
      for (let x = 0; x < len; x++) {
        const d = (a[x] as number) - (b[x] as number);
        s += d * d;
      }
      (d2[i] as Float64Array)[j] = s;
      (d2[j] as Float64Array)[i] = s;
    }
  // A NaN or infinite coordinate makes a distance NaN or ∞: such a pair is as far apart as can
  // be (+∞), so a non-finite update scores last instead of breaking the sort (NaN compares equal
  // to everything, and a NaN score first in line would be selected).
  const score = d2.map((row, i) => {
    const others = [...row]
      .filter((_, j) => j !== i)
      .map((d) => (Number.isFinite(d) ? d : Number.POSITIVE_INFINITY))
      .sort((a, b) => a - b);
    let s = 0;
    for (let j = 0; j < k; j++) s += others[j] as number;
    return s;
  });
  return [...score.keys()].sort((a, b) => (score[a] as number) - (score[b] as number) || a - b).slice(0, m);
}

/** Multi-Krum: the mean of the m = n − f updates {@link krumSelection} picks. */
export function multiKrum(updates: readonly Float32Array[], f: number, m = updates.length - f): Float32Array {
  return mean(krumSelection(updates, f, m).map((i) => updates[i] as Float32Array));
}

/** Coordinate-wise mean (summed in float64). */
export function mean(updates: readonly Float32Array[]): Float32Array {
  const len = (updates[0] as Float32Array).length;
  const acc = new Float64Array(len);
  for (const u of updates) for (let i = 0; i < len; i++) acc[i] = (acc[i] as number) + (u[i] as number);
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = (acc[i] as number) / updates.length;
  return out;
}

/** Coordinate-wise median (the mean of the two middle values for an even count). */
export function coordinateMedian(updates: readonly Float32Array[]): Float32Array {
  return trimmedMean(updates, Math.floor((updates.length - 1) / 2));
}

/**
 * Coordinate-wise trimmed mean: drops the `trim` smallest and `trim` largest values of each
 * coordinate and averages the rest.
 */
export function trimmedMean(updates: readonly Float32Array[], trim: number): Float32Array {
  const n = updates.length;
  if (trim < 0 || 2 * trim >= n) throw new Error(`cannot trim ${trim} of ${n} at each end`);
  const len = (updates[0] as Float32Array).length;
  const out = new Float32Array(len);
  const column = new Float64Array(n);
  for (let i = 0; i < len; i++) {
    for (let w = 0; w < n; w++) column[w] = (updates[w] as Float32Array)[i] as number;
    column.sort();
    let sum = 0;
    for (let w = trim; w < n - trim; w++) sum += column[w] as number;
    out[i] = sum / (n - 2 * trim);
  }
  return out;
}

/** Centered clipping from `centre`, `iterations` times, τ = `radius` × median distance (see file header). */
export function centeredClip(
  updates: readonly Float32Array[],
  centre: Float32Array,
  iterations: number,
  radius = 1,
): Float32Array {
  const len = centre.length;
  const v = Float64Array.from(centre);
  for (let it = 0; it < iterations; it++) {
    const dist = updates.map((u) => {
      let s = 0;
      for (let i = 0; i < len; i++) {
        const d = (u[i] as number) - (v[i] as number);
        s += d * d;
      }
      // NaN or ∞ (a non-finite coordinate): infinitely far, so its clipped pull is dropped below.
      return Number.isFinite(s) ? Math.sqrt(s) : Number.POSITIVE_INFINITY;
    });
    const tau = radius * medianOf(dist);
    const step = new Float64Array(len);
    updates.forEach((u, w) => {
      const d = dist[w] as number;
      // clip_τ of an infinitely long z has no direction; its limit contribution is dropped (0).
      if (d === 0 || !Number.isFinite(d)) return;
      const scale = Math.min(1, tau / d);
      for (let i = 0; i < len; i++)
        step[i] = (step[i] as number) + ((u[i] as number) - (v[i] as number)) * scale;
    });
    for (let i = 0; i < len; i++) v[i] = (v[i] as number) + (step[i] as number) / updates.length;
  }
  return Float32Array.from(v);
}

function medianOf(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
