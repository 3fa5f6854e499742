/**
 * Who checks a canary review (docs/verification.md "Canary reviews"). One check can overturn a
 * verdict, so the checker is neither the first trusted provider that happens to have a free slot
 * nor anyone a ring could steer the review to:
 *
 * - **a seeded draw**: each trusted provider online on any replica (`providers.connected` in the
 *   store) has the draw `hashUnit(seed, 'review-check', reviewId, provider)` with the epoch's
 *   secret seed (verification/auditSeeds.ts; revealed to validators once no lease drawn with it is
 *   out), and the review goes only to the eligible one with the lowest draw;
 * - **independent, fail-closed**: eligible means trusted, no party of the review (kinship.ts
 *   `checkerKinship`: network or funder kin of its sources, the provider under review, the
 *   providers it would clear, its first checker), and every identity involved known — loaded from
 *   the store for a provider connected only to another replica; one that is unknown, or whose
 *   funder lookup is pending, makes the review uncheckable here for now (never "no kin");
 * - **priority, not a veto** (security reviews): a lower-drawn eligible provider that was leased
 *   work since the review opened had a free slot and let the check go (an honest agent takes it on
 *   its next slot), so it no longer holds the review; one that was leased nothing holds it for
 *   `CHECKER_PRIORITY_MS` per rank (a provider may check once fewer than ⌊age / window⌋ + 1 such
 *   idle ones are drawn lower). Without this a trusted ally that stays connected but never takes
 *   the check blocked every other checker until the review expired and its held miss was voided;
 *   with a short window alone, a ring member drawn higher could wait its way past honest checkers
 *   that were merely busy.
 */
import type { ReviewCheckBasis } from '../settlement/epochFacts.ts';
import { epochSeed } from '../verification/auditSeeds.ts';
import { isTrusted, parseReputation } from '../verification/reputation.ts';
import { checkableReviews, reviewParties } from './canaryReviewQueries.ts';
import {
  CHECKER_PRIORITY_MS,
  type CheckerSkip,
  type LowerCandidate,
  priorityRanks,
  reviewCheckDraw,
} from './checkerDraw.ts';
import { checkerKinship, identityBasis, rememberIdentity } from './kinship.ts';
import { reputationOf, type WorkDeps, type WorkState } from './workState.ts';

type Checkable = Awaited<ReturnType<typeof checkableReviews>>[number];

export { CHECKER_PRIORITY_MS };

/** A review this provider was drawn to check, with its draw (recorded on the check lease). */
export type DrawnReview = Checkable & {
  drawn: { epoch: number | null; draw: number; basis: ReviewCheckBasis };
};

/**
 * Loads the identities of `addresses` this replica does not hold from the store (network prefix
 * and first sighting, kept by every replica's sessions). False when one is unknown there too.
 *
 * @example
 * if (!(await knownIdentities(state, deps, parties))) return undefined; // fail closed
 */
export async function knownIdentities(
  s: WorkState,
  d: WorkDeps,
  addresses: readonly string[],
): Promise<boolean> {
  const missing = [...new Set(addresses.map((a) => a.toLowerCase()))].filter((a) => !s.identities.has(a));
  if (missing.length === 0) return true;
  const rows = await d.db
    .selectFrom('providers')
    .select(['address', 'first_seen', 'network_prefix'])
    .where('address', 'in', missing)
    .execute();
  for (const r of rows) {
    if (r.network_prefix === null) continue; // never connected since the prefix is kept: unknown
    rememberIdentity(s, r.address, r.network_prefix === '' ? null : r.network_prefix, r.first_seen);
  }
  return missing.every((a) => s.identities.has(a));
}

/**
 * Why `provider` may not check `review`, or null when it may: trusted, GPU-proven for a GPU
 * canary, and `clear` of every party of the review with every identity known (fail closed).
 */
async function ineligibility(
  s: WorkState,
  d: WorkDeps,
  c: Checkable,
  provider: string,
  trusted: boolean,
): Promise<CheckerSkip | null> {
  if (!trusted) return 'untrusted';
  if (c.gpu === 1 && !d.proofs.gpuTrusted(provider)) return 'gpu';
  const parties = await reviewParties(d.db, c.review_id, c.id, c.source_task_id);
  if (!(await knownIdentities(s, d, [...parties, provider]))) return 'unknown';
  const kinship = checkerKinship(s, provider, parties);
  return kinship === 'clear' ? null : kinship;
}

/**
 * An open review that `provider` was drawn to check now, or undefined: it is eligible, and no
 * trusted provider online (on any replica) with a lower draw is eligible too (that one takes it on
 * its next free slot). The caller issues the canary as an ordinary canary lease and records it as
 * the review's check.
 *
 * @example
 * const review = await drawnReview(state, deps, provider);
 */
export async function drawnReview(
  s: WorkState,
  d: WorkDeps,
  provider: string,
  /**
   * Reviews of known answers of these `kinds` only (default `onnx.infer`, whose checks are canary
   * leases; `blender.render`, `train.diloco`: a caught provider's frames and updates, checked by
   * leases of their kind, reviewLeases.ts), and `canRun`: whether a provider could run a check of
   * that kind at all (one that cannot, a provider without Blender for a frame, is not drawn and
   * holds no priority).
   */
  o: { kinds?: readonly string[]; canRun?: (address: string, kind: string) => boolean } = {},
): Promise<DrawnReview | undefined> {
  const me = provider.toLowerCase();
  if (!isTrusted(reputationOf(s, d.now, me))) return undefined;
  const kinds = o.kinds ?? ['onnx.infer'];
  const open = await checkableReviews(d.db, me, { kinds });
  if (open.length === 0) return undefined;
  // No epoch (no market, or one that has none, as the strategic harness's stand-in): the loop's
  // own seed, as canary draws do (canaries.ts `injectCanary`).
  const epoch = (d.market ? await d.market.currentEpoch(d.db) : undefined) ?? null;
  const seed = epoch === null ? s.econ.seed : await epochSeed(d.db, epoch);
  const online = await d.db
    .selectFrom('providers')
    .select(['address', 'reputation'])
    .where('connected', '=', 1)
    .where('address', '!=', me)
    .execute();
  for (const c of open) {
    if (o.canRun && !o.canRun(me, c.kind)) continue;
    if ((await ineligibility(s, d, c, me, true)) !== null) continue;
    const draw = reviewCheckDraw(seed, c.review_id, me);
    const ahead = online
      .map((p) => ({
        address: p.address.toLowerCase(),
        draw: reviewCheckDraw(seed, c.review_id, p.address),
        reputation: p.reputation,
      }))
      .filter((p) => p.draw < draw)
      .sort((a, b) => a.draw - b.draw);
    // Eligible ones drawn lower that still have priority (see the module's comment); each one
    // online drawn lower is recorded with why it did not hold the check (evidence version 12).
    const openedAt = Number(c.opened_at);
    const waitFor = priorityRanks(d.now(), openedAt);
    const lower: LowerCandidate[] = [];
    let holding = 0;
    for (const p of ahead) {
      const skip = await lowerSkip(s, d, c, p, kinds, o.canRun);
      lower.push(skip ? { provider: p.address, draw: p.draw, skip } : { provider: p.address, draw: p.draw });
      if (!skip && ++holding >= waitFor) break;
    }
    if (holding < waitFor) {
      // What the draw decided on, kept with the check lease for validators (migration 0070).
      const parties = await reviewParties(d.db, c.review_id, c.id, c.source_task_id);
      // Identities of those passed over as kin too: a validator re-derives that they were.
      const kin = lower.filter((l) => l.skip === 'kin').map((l) => l.provider);
      const basis: ReviewCheckBasis = {
        at: d.now(),
        epoch,
        draw,
        parties,
        ...identityBasis(s, [me, ...parties, ...kin]),
        reviewId: c.review_id,
        openedAt,
        lower,
      };
      return { ...c, drawn: { epoch, draw, basis } };
    }
  }
  return undefined;
}

/**
 * Why a provider online and drawn lower than the one asking did not hold review `c`'s check, or
 * null when it held priority (it may take the check on its next free slot).
 */
async function lowerSkip(
  s: WorkState,
  d: WorkDeps,
  c: Checkable,
  p: { address: string; reputation: string | null },
  kinds: readonly string[],
  canRun?: (address: string, kind: string) => boolean,
): Promise<CheckerSkip | null> {
  const stored = p.reputation ? parseReputation(JSON.parse(p.reputation)) : undefined;
  const rep = s.reputations.get(p.address) ?? stored;
  if (!rep || !isTrusted(rep)) return 'untrusted';
  if (canRun && !canRun(p.address, c.kind)) return 'kind';
  if ((await checkableReviews(d.db, p.address, { reviewId: c.review_id, limit: 1, kinds })).length === 0) {
    const parties = await reviewParties(d.db, c.review_id, c.id, c.source_task_id);
    return parties.includes(p.address) ? 'party' : 'seen';
  }
  const why = await ineligibility(s, d, c, p.address, true);
  if (why) return why;
  if (await leasedSince(d, p.address, Number(c.opened_at))) return 'leased'; // it let the check go
  return null;
}

/**
 * Whether `provider` was leased any task since `t`, the instant included (on any replica: the
 * store's assignments). A lease in the very millisecond the review opened counts: on a busy
 * coordinator (and under the harness's virtual clock, which stands still while work flows) many
 * leases share it, and a provider leased work then was free and took other work.
 */
async function leasedSince(d: WorkDeps, provider: string, t: number): Promise<boolean> {
  const row = await d.db
    .selectFrom('assignments')
    .select('id')
    .where('provider', '=', provider)
    .where('created_at', '>=', t)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The basis a review check lease was drawn on (migration 0070), or undefined for a lease drawn
 * before it was kept.
 *
 * @example
 * const basis = await checkBasisOf(trx, leaseId);
 */
export async function checkBasisOf(
  ex: Pick<WorkDeps['db'], 'selectFrom'>,
  leaseId: string,
): Promise<ReviewCheckBasis | undefined> {
  const row = await ex
    .selectFrom('review_check_bases')
    .select('body')
    .where('lease_id', '=', leaseId)
    .executeTakeFirst();
  return row ? (JSON.parse(row.body) as ReviewCheckBasis) : undefined;
}
