/**
 * NAB's final normalisation (`Runner.normalize`): 0 is the null detector (never alerts),
 * 100 the perfect detector (every window caught at its very start, no false positives):
 * `100 * (raw - null) / (perfect - null)` with `perfect = windowCount * tpWeight`.
 *
 * @example
 * normalizeScore(-24.0131054891, -116, 116); // 39.649…
 */
export function normalizeScore(raw: number, nullScore: number, perfectScore: number): number {
  return (100 * (raw - nullScore)) / (perfectScore - nullScore);
}
