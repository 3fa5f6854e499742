/**
 * min and max of bigints (Math.min/max take numbers only and would lose precision).
 *
 * @example
 * bigMin(3n, 5n); // 3n
 */
export function bigMin(a: bigint, b: bigint): bigint {
  if (b < a) return b;
  return a;
}

/**
 * @example
 * bigMax(3n, 5n); // 5n
 */
export function bigMax(a: bigint, b: bigint): bigint {
  if (b > a) return b;
  return a;
}
