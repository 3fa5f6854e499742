/**
 * Review checkers are paid (docs/verification.md "Canary reviews", "Review checks are paid"). An
 * audit execution is paid like any execution of its task: a `charge` to the task's client, whose
 * job reserved up to three paid executions per task at admission (market/createMarket.ts
 * `onVerdict`, priceExecution.ts `paidExecutionsPerTask`). A review check has no such client: its
 * task is a review-only known answer of a job that already ended (its bill closed, and validators
 * allow one paid set per task) or a canary (shadow work nobody is billed for). So a check of a
 * `source-faulted` review — opened because a provider that vouched for the answer was proven
 * faulty — is paid from **the seized stake of the faulty vouchers** (`provider:<p>:slashed`), like
 * a refund: a `compensation` entry of part `check`, at most the lowest provider amount their
 * execution of the reviewed task was charged (what an audit of it would have earned, about), at
 * most two checks per charge, owed until their slashes are applied (reviewCompensations.ts
 * `payOwed`). Refunds, rewards and paybacks come first: a check's pay waits while the funder owes
 * any of them or a review of an answer it vouched for is still open.
 *
 * A `record-miss` review (a provider with a long record missed a canary; its miss is held for a
 * trusted check instead of faulted) is paid the same amount, from whoever the check proves wrong:
 * when the check **confirms** the known answer, the held missers are faulted in the same
 * transaction and their seized stake pays it (they caused the check: a miss by anyone else would
 * have been faulted outright, with no check to pay); the memo then carries their signed results
 * as `wrong`, and the reviewed task's charges (any provider's) only bound the amount. When it
 * finds the answer **poisoned**, the faulty vouchers pay as for `source-faulted`; with no voucher
 * proven faulty nobody has stake to pay from and the checks stay unpaid (the client's bill is
 * closed, a canary bills nobody, and the protocol has no fund of its own).
 */
import type { Transaction } from 'kysely';
import type { CompensationMemo, ReviewCheckBasis, SignedResult } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';
import { CHARGE_REFUND_WINDOW_MS } from '../verification/constants.ts';
import { chargesOf, compensationRef } from './reviewCompensations.ts';
import type { WorkDeps } from './workState.ts';

type Trx = Transaction<Database>;

/** At most this many paid checks per charge (an overturn needs two; a confirmation one). */
export const PAID_CHECKS_PER_CHARGE = 2;

/**
 * Records the pay owed to the checkers of a resolved `source-faulted` or `record-miss` review, in the review's
 * transaction (after its refunds, so those are paid first). Returns the refs recorded.
 *
 * @example await oweCheckerPay(deps, trx, { review, source, expectedCid, checks });
 */
export async function oweCheckerPay(
  d: WorkDeps,
  trx: Trx,
  o: {
    review: { id: string; canary_id: string; reason: string };
    source: { jobId: string; taskId: string } | undefined;
    expectedCid: string;
    /** `basis`: what the checker was drawn on (migration 0070), carried into its memo. */
    checks: { provider: string; result: SignedResult | undefined; basis?: ReviewCheckBasis }[];
    /** A confirmed `record-miss` review: the held misses it made faults (they fund the check). */
    confirmedMisses?: { provider: string; result: SignedResult | undefined }[];
  },
): Promise<string[]> {
  if (!d.market || !o.source) return [];
  if (o.review.reason !== 'source-faulted' && o.review.reason !== 'record-miss') return [];
  const t = d.now();
  const since = Math.min(t, Date.now()) - CHARGE_REFUND_WINDOW_MS;
  if (o.review.reason === 'record-miss' && o.confirmedMisses) {
    // The missers pay: every one with its signed result (the evidence validators check).
    const wrong = o.confirmedMisses.flatMap((m) =>
      m.result ? [{ provider: m.provider.toLowerCase(), result: m.result }] : [],
    );
    if (wrong.length === 0) return [];
    const charges = (await chargesOf(trx, o.source.jobId, o.source.taskId, since)).filter(
      (c) => BigInt(c.providerAmount) > 0n,
    );
    return owe(trx, o, o.source, { funders: [...new Set(wrong.map((w) => w.provider))], charges, wrong }, t);
  }
  // The faulty vouchers: providers that agreed on the answer with a fault no review reversed.
  const vouchers = await trx
    .selectFrom('canary_sources as s')
    .select('s.provider')
    .where('s.canary_id', '=', o.review.canary_id)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('verification_faults as f')
          .select('f.id')
          .whereRef('f.provider', '=', 's.provider')
          .where((eb2) =>
            eb2.not(
              eb2.exists(
                eb2
                  .selectFrom('fault_reversals as x')
                  .select('x.id')
                  .whereRef('x.task_id', '=', 'f.task_id')
                  .whereRef('x.provider', '=', 'f.provider'),
              ),
            ),
          ),
      ),
    )
    .execute();
  const faulty = new Set(vouchers.map((v) => v.provider.toLowerCase()));
  const charges = (await chargesOf(trx, o.source.jobId, o.source.taskId, since)).filter(
    (c) => faulty.has(c.provider.toLowerCase()) && BigInt(c.providerAmount) > 0n,
  );
  const funders = [...new Set(charges.map((c) => c.provider.toLowerCase()))];
  return owe(trx, o, o.source, { funders, charges, wrong: [] }, t);
}

/**
 * Records one `check` compensation per paid check (at most {@link PAID_CHECKS_PER_CHARGE} per
 * reviewed task), `amount` the lowest provider amount of `charges`, debited from `funders`.
 */
async function owe(
  trx: Trx,
  o: Parameters<typeof oweCheckerPay>[2],
  source: { jobId: string; taskId: string },
  f: { funders: string[]; charges: CompensationMemo['charges']; wrong: CompensationMemo['wrong'] },
  t: number,
): Promise<string[]> {
  const { funders, charges, wrong } = f;
  if (charges.length === 0 || funders.length === 0) return [];
  const amount = charges.reduce(
    (m, c) => (BigInt(c.providerAmount) < m ? BigInt(c.providerAmount) : m),
    BigInt(charges[0]!.providerAmount),
  );
  const already = await trx
    .selectFrom('review_compensations')
    .select('ref')
    .where('task_id', '=', source.taskId)
    .where('part', '=', 'check')
    .execute();
  let slot = already.length;
  const refs: string[] = [];
  for (const c of o.checks) {
    const checker = c.provider.toLowerCase();
    if (!c.result || funders.includes(checker) || slot >= PAID_CHECKS_PER_CHARGE) continue;
    const ref = compensationRef('check', source.taskId, checker);
    if (already.some((a) => a.ref === ref)) continue;
    slot++;
    const memo: CompensationMemo = {
      part: 'check',
      taskId: source.taskId,
      review: o.review.id,
      provider: checker,
      expectedCid: o.expectedCid,
      check: { provider: checker, result: c.result, ...(c.basis ? { basis: c.basis } : {}) },
      wrong,
      charges,
      slot,
    };
    await trx
      .insertInto('review_compensations')
      .values({
        ref,
        part: 'check',
        task_id: source.taskId,
        job_id: source.jobId,
        payee: `provider:${checker}:earnings`,
        amount: amount.toString(),
        funders: JSON.stringify(funders),
        memo: JSON.stringify(memo),
        // After the review's refunds and rewards in the pay order (created_at, ref).
        created_at: t + 1,
        paid_epoch: null,
        paid_at: null,
      })
      .onConflict((oc) => oc.column('ref').doNothing())
      .execute();
    refs.push(ref);
  }
  return refs;
}

/**
 * Whether a check's pay funded by `funders` must wait: one of them owes a refund, reward or
 * payback not yet paid, or a review of an answer it vouched for is still open (its refund may
 * come).
 *
 * @example if (await checkPayWaits(trx, ['0xabc…'])) continue;
 */
export async function checkPayWaits(trx: Trx, funders: readonly string[]): Promise<boolean> {
  for (const f of funders) {
    const owes = await trx
      .selectFrom('review_compensations')
      .select('ref')
      .where('paid_at', 'is', null)
      .where('lapsed_at', 'is', null)
      .where('part', '!=', 'check')
      .where('funders', 'like', `%"${f.toLowerCase()}"%`)
      .executeTakeFirst();
    if (owes) return true;
    const open = await trx
      .selectFrom('canary_reviews as r')
      .innerJoin('canary_sources as s', 's.canary_id', 'r.canary_id')
      .select('r.id')
      .where('r.status', '=', 'open')
      .where('s.provider', '=', f.toLowerCase())
      .executeTakeFirst();
    if (open) return true;
  }
  return false;
}
