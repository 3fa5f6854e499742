/**
 * How long the property-based fuzz tests (`*.fuzz.test.ts`, fast-check) run: a bounded number of
 * cases and a wall-clock cap per property, so `npm test` stays short on a busy 2-core machine.
 * `PLEXUS_FUZZ_RUNS=N` runs longer locally (e.g. 100000 before a release).
 */

/**
 * fast-check parameters for one property: `numRuns` cases (default 300, `PLEXUS_FUZZ_RUNS`), at most
 * `PLEXUS_FUZZ_SECONDS` (default 20) seconds of generation, and the regression `examples` (inputs
 * that once broke the parser) always run first.
 *
 * @example
 * fc.assert(fc.property(fc.uint8Array(), (b) => …), fuzzRuns());
 */
export function fuzzRuns<T>(examples: T[] = []): {
  numRuns: number;
  interruptAfterTimeLimit: number;
  examples: T[];
} {
  const runs = Number(process.env.PLEXUS_FUZZ_RUNS ?? 300);
  const seconds = Number(process.env.PLEXUS_FUZZ_SECONDS ?? 20);
  return {
    numRuns: Number.isFinite(runs) && runs > 0 ? runs : 300,
    interruptAfterTimeLimit: (Number.isFinite(seconds) && seconds > 0 ? seconds : 20) * 1000,
    examples,
  };
}
