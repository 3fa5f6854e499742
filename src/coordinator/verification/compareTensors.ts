/**
 * Tolerance-aware comparison of task outputs: exact for integer tensors, allclose + cosine for
 * float tensors, and an explanation of every difference.
 */

import { shapeSize, type Tensor } from '../../protocol/safetensors.ts';
import { halfToFloat, isFloatDType, type TensorSet } from '../../protocol/tensorSet.ts';
import { DEFAULT_TOLERANCES, type FloatTolerance } from './constants.ts';

/**
 * Tolerances per float dtype; missing entries fall back to {@link DEFAULT_TOLERANCES}.
 *
 * @example
 * compareTensorSets(a, b, { float32: { atol: 1e-3, rtol: 5e-2, minCosine: 0.999, maxMismatchFraction: 0 } });
 */
export type Tolerances = Partial<Record<'float16' | 'float32' | 'float64', FloatTolerance>>;

/**
 * Why two tensors (or tensor sets) are not equivalent.
 *
 * @example
 * if (cmp.reason === 'cosine') log.warn(cmp.detail);
 */
export type MismatchReason =
  | 'missing'
  | 'unexpected'
  | 'dtype'
  | 'shape'
  | 'length'
  | 'exact'
  | 'non-finite'
  | 'tolerance'
  | 'cosine';

/**
 * Outcome of comparing one tensor with its reference.
 *
 * @example
 * const { ok, detail, maxAbsError, cosine }: TensorComparison = compareTensors(a, b);
 */
export type TensorComparison = {
  ok: boolean;
  /** Set when `ok` is false. */
  reason?: MismatchReason;
  /** Human-readable explanation (why it matched or not). */
  detail: string;
  maxAbsError: number;
  maxRelError: number;
  cosine: number;
  /** Elements outside `atol + rtol·|ref|` (or unequal, for exact dtypes). */
  mismatchedElements: number;
};

/**
 * Outcome of comparing two tensor sets.
 *
 * @example
 * const { ok, reasons }: TensorSetComparison = compareTensorSets(a, b);
 */
export type TensorSetComparison = {
  ok: boolean;
  /** Per-name comparison, for every name in either set. */
  tensors: Record<string, TensorComparison>;
  /** One line per differing tensor, e.g. `logits: cosine 0.12 < 0.9999`. */
  reasons: string[];
};

function fail(
  reason: MismatchReason,
  detail: string,
  partial: Partial<TensorComparison> = {},
): TensorComparison {
  return {
    ok: false,
    reason,
    detail,
    maxAbsError: Number.POSITIVE_INFINITY,
    maxRelError: Number.POSITIVE_INFINITY,
    cosine: 0,
    mismatchedElements: 0,
    ...partial,
  };
}

function readAsNumber(t: Tensor): (i: number) => number {
  const d = t.data;
  if (t.dtype === 'float16') return (i) => halfToFloat(d[i] as number);
  if (d instanceof BigInt64Array) return (i) => Number(d[i]);
  return (i) => d[i] as number;
}

/**
 * Compares `candidate` with `reference`. Integer and bool tensors must be equal element for element;
 * float tensors pass when (1) NaN/±Inf sit at the same places, (2) at most
 * `floor(maxMismatchFraction · n)` elements break `|a − b| ≤ atol + rtol·|ref|`, and (3) the cosine
 * similarity of the finite parts is at least `minCosine` (two near-zero tensors count as similar).
 *
 * @example
 * const a = { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) } as const;
 * const b = { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3.00001]) } as const;
 * compareTensors(a, b).ok; // true
 */
export function compareTensors(
  candidate: Tensor,
  reference: Tensor,
  tolerances: Tolerances = {},
): TensorComparison {
  if (candidate.dtype !== reference.dtype) {
    return fail('dtype', `dtype ${candidate.dtype} ≠ ${reference.dtype}`);
  }
  if (
    candidate.shape.length !== reference.shape.length ||
    candidate.shape.some((d, i) => d !== reference.shape[i])
  ) {
    return fail('shape', `shape [${candidate.shape.join(',')}] ≠ [${reference.shape.join(',')}]`);
  }
  const n = shapeSize(reference.shape);
  if (candidate.data.length !== n || reference.data.length !== n) {
    return fail('length', `data length ${candidate.data.length}/${reference.data.length} ≠ shape size ${n}`);
  }
  if (!isFloatDType(reference.dtype)) {
    let diff = 0;
    for (let i = 0; i < n; i++) if (candidate.data[i] !== reference.data[i]) diff++;
    const base = {
      maxAbsError: diff ? Number.NaN : 0,
      maxRelError: diff ? Number.NaN : 0,
      cosine: diff ? 0 : 1,
    };
    return diff === 0
      ? { ok: true, detail: 'exactly equal', mismatchedElements: 0, ...base }
      : fail('exact', `${diff} of ${n} elements differ (exact dtype ${reference.dtype})`, {
          ...base,
          mismatchedElements: diff,
        });
  }

  const tol = tolerances[reference.dtype] ?? DEFAULT_TOLERANCES[reference.dtype];
  const a = readAsNumber(candidate);
  const b = readAsNumber(reference);
  let maxAbs = 0;
  let maxRel = 0;
  let mismatched = 0;
  let nonFinite = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < n; i++) {
    const x = a(i);
    const y = b(i);
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      // NaN matches NaN and ±Inf matches the same infinity; anything else is a difference.
      if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) nonFinite++;
      continue;
    }
    const err = Math.abs(x - y);
    if (err > maxAbs) maxAbs = err;
    const rel = err / Math.max(Math.abs(y), Number.MIN_VALUE);
    if (err > 0 && rel > maxRel) maxRel = rel;
    if (err > tol.atol + tol.rtol * Math.abs(y)) mismatched++;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  const tiny = tol.atol * tol.atol * n;
  const cosine = na <= tiny && nb <= tiny ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  const stats = { maxAbsError: maxAbs, maxRelError: maxRel, cosine, mismatchedElements: mismatched };
  if (nonFinite > 0) return fail('non-finite', `${nonFinite} NaN/Inf elements at different places`, stats);
  const allowed = Math.floor(tol.maxMismatchFraction * n);
  if (mismatched > allowed) {
    return fail(
      'tolerance',
      `${mismatched} of ${n} elements exceed atol ${tol.atol} + rtol ${tol.rtol}·|ref| (allowed ${allowed}); max abs error ${maxAbs.toExponential(3)}`,
      stats,
    );
  }
  if (cosine < tol.minCosine) {
    return fail('cosine', `cosine similarity ${cosine.toFixed(6)} < ${tol.minCosine}`, stats);
  }
  return {
    ok: true,
    detail: `within tolerance (max abs ${maxAbs.toExponential(2)}, cosine ${cosine.toFixed(6)})`,
    ...stats,
  };
}

/**
 * Compares two sets of named tensors: both must hold the same names, and every tensor must pass
 * {@link compareTensors}. `reasons` explains each difference, one line per tensor.
 *
 * @example
 * const r = compareTensorSets(providerOutput, auditorOutput);
 * if (!r.ok) log.warn({ reasons: r.reasons }, 'outputs differ');
 */
export function compareTensorSets(
  candidate: TensorSet,
  reference: TensorSet,
  tolerances: Tolerances = {},
): TensorSetComparison {
  const tensors: Record<string, TensorComparison> = {};
  const reasons: string[] = [];
  const names = new Set([...Object.keys(candidate), ...Object.keys(reference)]);
  for (const name of [...names].sort()) {
    const c = candidate[name];
    const r = reference[name];
    let cmp: TensorComparison;
    if (c === undefined) cmp = fail('missing', 'tensor missing from candidate');
    else if (r === undefined) cmp = fail('unexpected', 'tensor not in reference');
    else cmp = compareTensors(c, r, tolerances);
    tensors[name] = cmp;
    if (!cmp.ok) reasons.push(`${name}: ${cmp.detail}`);
  }
  return { ok: reasons.length === 0, tensors, reasons };
}
