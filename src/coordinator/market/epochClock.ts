/**
 * Epoch arithmetic, the same as EpochSettlement's: epoch `e` (from 1) covers
 * `[genesis + (e−1)·duration, genesis + e·duration)`.
 */
export type EpochClock = {
  genesisMs: number;
  durationMs: number;
  /** The epoch a moment belongs to (at least 1). */
  epochAt(ms: number): number;
  startsAt(epoch: number): number;
  endsAt(epoch: number): number;
};

/**
 * @example
 * const clock = createEpochClock(1_700_000_000_000, 20_000);
 * clock.epochAt(1_700_000_025_000); // 2
 */
export function createEpochClock(genesisMs: number, durationMs: number): EpochClock {
  return {
    genesisMs,
    durationMs,
    epochAt: (ms) => Math.max(1, Math.floor((ms - genesisMs) / durationMs) + 1),
    startsAt: (e) => genesisMs + (e - 1) * durationMs,
    endsAt: (e) => genesisMs + e * durationMs,
  };
}
