/**
 * A provider's capacity as emission weighs it: the throughput its latest passing capability proof
 * measured (GFLOP/s, docs/verification.md), or 0 without one. Advertised slots no longer count:
 * what a provider says it has earns nothing until it proves it.
 */

/**
 * Reads `providers.capability` (the JSON the work loop stores after each judged proof).
 *
 * @example
 * provenCapacity('{"proven":true,"gflops":3.2}'); // 3.2
 * provenCapacity(null); // 0
 */
export function provenCapacity(stored: string | null | undefined): number {
  if (!stored) return 0;
  try {
    const c = JSON.parse(stored) as { proven?: unknown; gflops?: unknown };
    return c.proven === true && typeof c.gflops === 'number' && Number.isFinite(c.gflops) && c.gflops > 0
      ? c.gflops
      : 0;
  } catch {
    return 0;
  }
}
