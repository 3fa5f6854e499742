/**
 * NAB's default probation share of each file (`runner.py`: `probationaryPercent = 0.15`).
 *
 * @example
 * probationaryLength(1000, DEFAULT_PROBATION_PERCENT); // 150
 */
export const DEFAULT_PROBATION_PERCENT = 0.15;

/**
 * Number of leading rows NAB ignores when scoring a file of `numRows` rows:
 * `min(floor(p * numRows), p * 5000)` (`Sweeper._getProbationaryLength`, `util.getProbationPeriod`).
 *
 * @example
 * probationaryLength(4032); // 604
 * probationaryLength(22695); // 750
 */
export function probationaryLength(numRows: number, probationPercent = DEFAULT_PROBATION_PERCENT): number {
  return Math.min(Math.floor(probationPercent * numRows), probationPercent * 5000);
}
