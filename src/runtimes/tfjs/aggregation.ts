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
 *   below any minority of outliers).
 */
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
  }
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
      return Math.sqrt(s);
    });
    const tau = radius * medianOf(dist);
    const step = new Float64Array(len);
    updates.forEach((u, w) => {
      const d = dist[w] as number;
      const scale = d === 0 ? 0 : Math.min(1, tau / d);
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
