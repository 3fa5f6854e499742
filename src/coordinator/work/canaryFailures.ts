/**
 * A provider's signed failure report for a canary lease (issue 15): answered and counted like one
 * for a real task's lease (leases.ts `handleFailure`), so that reporting a failure tells a provider
 * nothing about what it held. Before, a canary's report was refused (PLX_STALE_ASSIGNMENT: only
 * task leases were looked up) while a real task's was accepted.
 */
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { ProviderFailure } from '../../protocol/schemas.ts';
import { commitmentOfAssignment, expireCanaryLease } from './canaryQueries.ts';
import { reopenReviewCheck } from './canaryReviewQueries.ts';
import { recordFault } from './faults.ts';
import { addTaskFailed } from './leaseQueries.ts';
import type { WorkDeps, WorkState } from './workState.ts';

/**
 * Ends canary lease `lease` of `address` on its signed failure report `msg`: the lease ends now
 * (`expired` before its expiry, as when a provider came back without it; after a signed
 * commitment a `bad-reveal` fault, as a real task's withdrawn commitment is) with the
 * report's code kept (0077: the public views show it as a real failed lease), the provider's
 * failed-task count rises as for a real task, a review's check slot is offered again, and its
 * shadow job gets the `task.retry` a real primary's failed lease appends to its job (with the
 * provider's own code and message). Returns the shadow job's id (to notify); throws
 * PLX_STALE_ASSIGNMENT when the lease ended meanwhile.
 *
 * @example
 * const jobId = await failCanaryLease(state, deps, address, canary, msg);
 */
export async function failCanaryLease(
  s: WorkState,
  d: WorkDeps,
  address: string,
  lease: { id: string; task_id: string; provider: string },
  msg: ProviderFailure,
): Promise<string | undefined> {
  return d.db.transaction().execute(async (trx) => {
    const u = await expireCanaryLease(trx, lease.id, d.now());
    if (u.numUpdatedRows === 0n) {
      throw new PlexusError(
        'PLX_STALE_ASSIGNMENT',
        `assignment ${msg.assignmentId} is not leased to ${address}`,
      );
    }
    // Shown as a real failed lease is (status `failed`, the provider's code: jobs/shadowJobs.ts).
    await trx
      .updateTable('canary_assignments')
      .set({ error_code: msg.code })
      .where('id', '=', lease.id)
      .execute();
    await addTaskFailed(trx, lease.provider);
    await reopenReviewCheck(trx, lease.id);
    // No reputation change without a commitment, as for a real task's failed lease (whose
    // abandoned execution is judged only at its task's verdict, and not at all before a result or
    // commitment): an instant `timeout` on GET /v1/providers told the canary. A signed commitment
    // withdrawn is a proven fault with the commitment as evidence, as a real task's is (leases.ts
    // `failAttempt`, review s13): a `bad-reveal` with the evidence a real one without a verdict
    // carries, slashed, and published on the shadow job as a real verdict's fault (faults.ts).
    // Before, it cost only a `timeout`: committing a guess to a canary and bailing out was cheap.
    const signed = await commitmentOfAssignment(trx, lease.id);
    if (signed) {
      await recordFault(s, d, trx, {
        provider: lease.provider,
        taskId: lease.task_id,
        jobId: null,
        kind: 'bad-reveal',
        evidence: {
          taskId: lease.task_id,
          kind: 'bad-reveal',
          agreeing: [],
          digests: {},
          reasons: [`signed commitment ${signed.commitment} withdrawn without a reveal`],
        },
      });
    }
    const shadow = await trx
      .selectFrom('shadow_jobs')
      .select('id')
      .where('lease_id', '=', lease.id)
      .executeTakeFirst();
    if (shadow)
      await d.events.append(trx, shadow.id, 'task.retry', {
        taskId: lease.task_id as Hex,
        code: msg.code,
        message: msg.message,
      });
    return shadow?.id;
  });
}
