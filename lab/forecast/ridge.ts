/**
 * Ridge regression by the normal equations (XᵀX + λI)β = Xᵀy, solved with Gaussian elimination
 * and partial pivoting. Feature counts here are tiny (≤ 40), so this is exact and fast.
 */

/**
 * Fits ridge coefficients. The first column is treated as the intercept and is not penalised.
 *
 * @example
 * fitRidge([[1, 0], [1, 1], [1, 2]], [1, 3, 5], 0); // ≈ [1, 2]
 */
export function fitRidge(
  rows: readonly (readonly number[])[],
  y: readonly number[],
  lambda: number,
): number[] {
  const p = rows[0]?.length ?? 0;
  const a = Array.from({ length: p }, () => new Array<number>(p + 1).fill(0));
  for (let r = 0; r < rows.length; r++) {
    const x = rows[r]!;
    const yr = y[r]!;
    for (let i = 0; i < p; i++) {
      const xi = x[i]!;
      const ai = a[i]!;
      for (let j = i; j < p; j++) ai[j]! += xi * x[j]!;
      ai[p]! += xi * yr;
    }
  }
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) a[i]![j] = a[j]![i]!;
    if (i > 0) a[i]![i]! += lambda;
  }
  // Gaussian elimination with partial pivoting on the augmented matrix.
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[piv]![c]!)) piv = r;
    [a[c], a[piv]] = [a[piv]!, a[c]!];
    const d = a[c]![c]!;
    if (Math.abs(d) < 1e-12) continue;
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / d;
      if (f === 0) continue;
      for (let k = c; k <= p; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((row, i) => (Math.abs(row[i]!) < 1e-12 ? 0 : row[p]! / row[i]!));
}
