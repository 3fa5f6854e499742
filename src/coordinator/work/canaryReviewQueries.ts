/**
 * The store side of canary reviews (canaryReviews.ts): who agreed on a canary's source verdict,
 * open re-verifications and their check leases, the misses of a canary and reversed faults.
 * Kept apart from canaryReviews.ts so that faults.ts can open reviews without an import cycle.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { unseenBy } from './canaryQueries.ts';

type Executor = Kysely<Database>;

/**
 * Records who agreed on the verdict a canary was seeded from.
 *
 * @example
 * await insertCanarySources(trx, canaryId, ['0xabc…', '0xdef…']);
 */
export async function insertCanarySources(ex: Executor, canaryId: string, providers: readonly string[]) {
  if (providers.length === 0) return;
  await ex
    .insertInto('canary_sources')
    .values(providers.map((p) => ({ canary_id: canaryId, provider: p.toLowerCase() })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Opens a re-verification of a canary and takes the canary out of circulation until it is
 * resolved (a doubtful known answer must not judge anyone else meanwhile).
 *
 * @example
 * await openCanaryReview(trx, { canaryId, reason: 'source-faulted' }, Date.now());
 */
export async function openCanaryReview(
  ex: Executor,
  r: {
    canaryId: string;
    reason: 'record-miss' | 'source-faulted';
    leaseId?: string;
    provider?: string;
    evidence?: unknown;
  },
  t: number,
): Promise<string | undefined> {
  const id = `review-${randomBytes(8).toString('hex')}`;
  // A record-miss review is opened at most once per canary (unique index, 0024): a second miss
  // joins the open review (canaryReviews.ts resolves every held miss of the canary).
  const inserted = await ex
    .insertInto('canary_reviews')
    .values({
      id,
      canary_id: r.canaryId,
      reason: r.reason,
      lease_id: r.leaseId ?? null,
      provider: r.provider?.toLowerCase() ?? null,
      evidence: r.evidence === undefined ? null : JSON.stringify(r.evidence),
      status: 'open',
      check_lease_id: null,
      checked_by: null,
      created_at: t,
      resolved_at: null,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  await ex.updateTable('canary_tasks').set({ retired: 1 }).where('id', '=', r.canaryId).execute();
  return inserted ? id : undefined;
}

/**
 * The canary's review state for a new miss: `open` (a review runs: the miss joins it), `poisoned`
 * (a trusted check found the answer wrong: a miss faults nobody), `confirmed` (a record-miss
 * review's trusted check already confirmed the answer: a miss is a fault), or undefined.
 *
 * @example
 * const state = await reviewStateOf(trx, canaryId);
 */
export async function reviewStateOf(
  ex: Executor,
  canaryId: string,
): Promise<'open' | 'confirmed' | 'poisoned' | undefined> {
  const rows = await ex
    .selectFrom('canary_reviews')
    .select(['status', 'reason'])
    .where('canary_id', '=', canaryId)
    .execute();
  if (rows.some((r) => r.status === 'open')) return 'open';
  // An expired review (no independent check before its deadline) leaves the answer doubtful: a
  // miss of it faults nobody, as for a poisoned one (the canary stays retired either way).
  if (rows.some((r) => r.status === 'poisoned' || r.status === 'expired')) return 'poisoned';
  if (rows.some((r) => r.reason === 'record-miss')) return 'confirmed';
  return undefined;
}

/**
 * Every held miss of a canary (status `review`): the misses its open review resolves.
 *
 * @example
 * const held = await heldMisses(db, canaryId);
 */
export function heldMisses(ex: Executor, canaryId: string) {
  return ex
    .selectFrom('canary_assignments')
    .select(['id', 'task_id', 'provider', 'output_cid', 'rep_before', 'result'])
    .where('canary_id', '=', canaryId)
    .where('status', '=', 'review')
    .orderBy('created_at')
    .execute();
}

/**
 * A provider was just proven faulty: every canary seeded from a verdict it agreed with is
 * re-verified (unless one review of it already runs or found it poisoned). Returns how many
 * reviews were opened.
 *
 * @example
 * await reviewCanariesOf(trx, provider, Date.now());
 */
export async function reviewCanariesOf(ex: Executor, provider: string, t: number): Promise<number> {
  const rows = await ex
    .selectFrom('canary_sources as cs')
    .select('cs.canary_id')
    .where('cs.provider', '=', provider.toLowerCase())
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('canary_reviews as r')
            .select('r.id')
            .whereRef('r.canary_id', '=', 'cs.canary_id')
            .where((w) =>
              w.or([w('r.status', 'in', ['open', 'poisoned']), w('r.reason', '=', 'source-faulted')]),
            ),
        ),
      ),
    )
    .execute();
  for (const r of rows) await openCanaryReview(ex, { canaryId: r.canary_id, reason: 'source-faulted' }, t);
  return rows.length;
}

/**
 * Open reviews with no check out that `provider` may check (oldest first, at most `limit`; only
 * `reviewId` when given): it did not agree on the canary's source verdict, did not execute its
 * source task, was never issued the canary, is not the provider under review, and did not make the
 * review's first check (a second check must be someone else's). Only known answers of `o.kinds`
 * (default `onnx.infer`): an inference review's check is a canary lease, a render frame's or a
 * training update's a lease of its own kind (reviewLeases.ts), so each path takes only its own.
 *
 * @example
 * const [review] = await checkableReviews(db, provider);
 */
export function checkableReviews(
  ex: Executor,
  provider: string,
  o: { limit?: number; reviewId?: string; kinds?: readonly string[] } = {},
) {
  const p = provider.toLowerCase();
  let q = ex
    .selectFrom('canary_reviews as r')
    .innerJoin('canary_tasks as c', 'c.id', 'r.canary_id')
    .select([
      'r.id as review_id',
      'r.first_checked_by',
      'r.first_check_lease_id',
      'r.created_at as opened_at',
    ])
    .selectAll('c')
    .where('r.status', '=', 'open')
    .where('c.kind', 'in', o.kinds ?? ['onnx.infer'])
    .where('r.check_lease_id', 'is', null)
    .where((eb) => eb.or([eb('r.provider', 'is', null), eb('r.provider', '!=', p)]))
    .where((eb) => eb.or([eb('r.first_checked_by', 'is', null), eb('r.first_checked_by', '!=', p)]))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('canary_sources as cs')
            .select('cs.provider')
            .whereRef('cs.canary_id', '=', 'c.id')
            .where('cs.provider', '=', p),
        ),
      ),
    )
    .where((eb) => unseenBy(eb, p));
  if (o.reviewId !== undefined) q = q.where('r.id', '=', o.reviewId);
  return q
    .orderBy('r.created_at')
    .limit(o.limit ?? 5)
    .execute();
}

/**
 * The open review a canary lease is the check of, if any.
 *
 * @example
 * const review = await reviewOfCheck(db, leaseId);
 */
export function reviewOfCheck(ex: Executor, leaseId: string) {
  return ex
    .selectFrom('canary_reviews')
    .selectAll()
    .where('check_lease_id', '=', leaseId)
    .where('status', '=', 'open')
    .executeTakeFirst();
}

/**
 * Frees the check slot of a review whose check lease ran out, so another trusted provider takes it.
 *
 * @example
 * await reopenReviewCheck(trx, leaseId);
 */
export function reopenReviewCheck(ex: Executor, leaseId: string) {
  return ex
    .updateTable('canary_reviews')
    .set({ check_lease_id: null })
    .where('check_lease_id', '=', leaseId)
    .where('status', '=', 'open')
    .execute();
}

/**
 * Every miss of a canary that faulted its provider (status `failed`), with the output it gave.
 *
 * @example
 * const misses = await canaryMisses(db, canaryId);
 */
export function canaryMisses(ex: Executor, canaryId: string) {
  return ex
    .selectFrom('canary_assignments')
    .select(['id', 'task_id', 'provider', 'output_cid', 'rep_before', 'result'])
    .where('canary_id', '=', canaryId)
    .where('status', '=', 'failed')
    .execute();
}

/**
 * Everyone a review is about: the providers whose verdict made the canary (its sources), the
 * provider under review, the providers its leases went to (its first check's included), and the
 * outvoted providers of its source task (whom a passing check would clear). Lower-case addresses.
 *
 * @example
 * const parties = await reviewParties(db, reviewId, canary.id, canary.source_task_id);
 */
export async function reviewParties(
  ex: Executor,
  reviewId: string,
  canaryId: string,
  sourceTaskId: string,
): Promise<string[]> {
  const [sources, leases, outvoted, review] = await Promise.all([
    ex.selectFrom('canary_sources').select('provider').where('canary_id', '=', canaryId).execute(),
    ex.selectFrom('canary_assignments').select('provider').where('canary_id', '=', canaryId).execute(),
    ex
      .selectFrom('verification_faults')
      .select('provider')
      .where('task_id', '=', sourceTaskId)
      .where('kind', '=', 'outvoted')
      .execute(),
    ex
      .selectFrom('canary_reviews')
      .select(['provider', 'first_checked_by'])
      .where('id', '=', reviewId)
      .executeTakeFirst(),
  ]);
  const all = [...sources, ...leases, ...outvoted].map((r) => r.provider);
  if (review?.provider) all.push(review.provider);
  // A second check must be independent of the first one too.
  if (review?.first_checked_by) all.push(review.first_checked_by);
  return [...new Set(all.map((a) => a.toLowerCase()))];
}
