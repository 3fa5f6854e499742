/**
 * Every canary review ends (docs/verification.md "Canary reviews"): one still open
 * `CANARY_REVIEW_DEADLINE_MS` after it was opened — no eligible independent checker was drawn,
 * or its checks kept disagreeing — expires. Its held misses are voided (a doubtful known answer
 * faults nobody), the canary stays retired, and a check still out is judged as an ordinary
 * result of a canary whose review ended (it faults nobody either). Owed compensations have their
 * own deadline (reviewCompensations.ts `payOwed`).
 */
import { CANARY_REVIEW_DEADLINE_MS } from '../verification/constants.ts';
import type { WorkDeps } from './workState.ts';

/**
 * Expires the open reviews past their deadline (at most 20 a call; the sweep calls it every
 * second). Returns how many expired.
 *
 * @example
 * await expireReviews(deps);
 */
export async function expireReviews(d: WorkDeps): Promise<number> {
  const t = d.now();
  const rows = await d.db
    .selectFrom('canary_reviews')
    .select(['id', 'canary_id'])
    .where('status', '=', 'open')
    .where('created_at', '<=', t - CANARY_REVIEW_DEADLINE_MS)
    .orderBy('created_at')
    .limit(20)
    .execute();
  let n = 0;
  for (const r of rows) {
    await d.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('canary_reviews')
        .set({ status: 'expired', resolved_at: t, check_lease_id: null })
        .where('id', '=', r.id)
        .where('status', '=', 'open')
        .executeTakeFirst();
      if (done.numUpdatedRows === 0n) return;
      const voided = await trx
        .updateTable('canary_assignments')
        .set({ status: 'voided' })
        .where('canary_id', '=', r.canary_id)
        .where('status', '=', 'review')
        .executeTakeFirst();
      await d.events.append(trx, null, 'canary.review-expired', {
        canary: r.canary_id,
        review: r.id,
        voided: Number(voided.numUpdatedRows),
      });
      n++;
    });
  }
  return n;
}
