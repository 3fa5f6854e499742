/**
 * Which evidence versions a validator accepts (issue 17, F2; docs/validators.md "Evidence
 * versions"). Each version adds checks (capability proofs and the review-check draw record from
 * 12), so a coordinator labelling a bundle with an older version would skip them. Two rules close
 * that: a bundle's version is never lower than that of the bundle its chain accepted before it
 * (a coordinator that published version 12 cannot step back), and an epoch starting at or after
 * {@link VERSION_12_SINCE_MS} must be version 12 or later (one that never upgraded cannot stay
 * behind). Pure.
 */

/** The version every bundle of an epoch starting from {@link VERSION_12_SINCE_MS} carries at least. */
export const REQUIRED_VERSION = 12;

/**
 * 2026-12-21T00:00:00Z: coordinators write version 12 since the capability proofs (migration
 * 0079) and the checker draw record, released before 2026-12-14; a week on, every network still
 * following is expected to run it. An epoch's start (`inputs.startsAt`) is the coordinator's, but
 * it is bound to the epoch number the contract settles (equal-length epochs from genesis), so a
 * coordinator cannot date a new epoch before it.
 */
export const VERSION_12_SINCE_MS = 1_797_811_200_000;

/**
 * The version rule's dispute for a bundle, or null when it holds: `prevVersion` is the highest
 * version this validator accepted from the same chain (undefined: none known), `sinceMs` the
 * cutoff (tests pin it).
 *
 * @example
 * const wrong = versionProblem(bundle.version, bundle.inputs.startsAt, store.highestVersion(url));
 */
export function versionProblem(
  version: number,
  startsAt: number,
  prevVersion: number | undefined,
  sinceMs = VERSION_12_SINCE_MS,
): { fact: string; claimed: string; recomputed: string } | null {
  if (prevVersion !== undefined && version < prevVersion)
    return {
      fact: 'evidence.version',
      claimed: String(version),
      recomputed: `at least ${prevVersion} (the version of a bundle accepted before it)`,
    };
  if (startsAt >= sinceMs && version < REQUIRED_VERSION)
    return {
      fact: 'evidence.version',
      claimed: String(version),
      recomputed: `at least ${REQUIRED_VERSION} (an epoch starting from ${new Date(sinceMs).toISOString()})`,
    };
  return null;
}
