/**
 * Reviews of outvoted verdicts (docs/verification.md "Canary reviews"): a verdict that faulted an
 * outvoted provider is only as good as the providers that outvoted it. Such a verdict is kept as a
 * review handle — a canary row of its task that never circulates (`retired`, issues used up) unless
 * it already became a live canary — with the agreeing providers as its sources. When one of them
 * is later proven faulty, the ordinary canary review re-verifies the task with an independently
 * drawn trusted provider (canaryReviews.ts); if the check finds the accepted answer wrong, every
 * outvoted provider whose output the check agrees with is made whole here: its slash withdrawn (or
 * paid back once an epoch applied it), its reputation and run of valid results back, and the reward
 * it was denied paid; the client of the overturned output is refunded (reviewCompensations.ts).
 */
import type { Transaction } from 'kysely';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { Database } from '../store/schema.ts';
import { outputsAgree } from '../verification/outputsAgree.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { storeKnownAnswer } from './knownAnswers.ts';
import type { WorkDeps, WorkState } from './workState.ts';

type Executor = Transaction<Database> | WorkDeps['db'];

/**
 * A verified verdict that faulted outvoted providers keeps its task reviewable: unless the task
 * already became a live canary (seedCanary), a review-only canary row is stored (never issued to
 * anyone: retired, its issues used up), vouched for by the agreeing providers. Inference tasks only
 * (a review check is a canary lease, compared as tensors).
 *
 * @example
 * if (verdict.verified) await keepForReview(state, deps, trx, jobId, taskId, verdict, outputCid);
 */
export async function keepForReview(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  taskId: string,
  verdict: Verdict,
  outputCid: string,
): Promise<boolean> {
  if (verdict.acceptedDigest === undefined) return false;
  if (!verdict.faults.some((f) => f.evidence.kind === 'outvoted')) return false;
  return storeKnownAnswer(s, d, trx, {
    jobId,
    taskId,
    verdict,
    outputCid,
    vouchers: verdict.outcomes.filter((o) => o.outcome === 'valid').map((o) => o.provider),
    reviewOnly: true,
  });
}

/**
 * The outvoted faults of a task (its verdict's minority) with the output each provider revealed,
 * for a review check to compare against.
 *
 * @example
 * const outvoted = await outvotedOf(db, canary.source_task_id);
 */
export async function outvotedOf(ex: Executor, taskId: string) {
  return ex
    .selectFrom('verification_faults as f')
    .innerJoin('task_executions as e', (j) =>
      j.onRef('e.task_id', '=', 'f.task_id').onRef('e.provider', '=', 'f.provider'),
    )
    .select(['f.id', 'f.task_id', 'f.provider', 'e.output_cid'])
    .where('f.task_id', '=', taskId)
    .where('f.kind', '=', 'outvoted')
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('fault_reversals as r')
            .select('r.id')
            .whereRef('r.task_id', '=', 'f.task_id')
            .whereRef('r.provider', '=', 'f.provider'),
        ),
      ),
    )
    .execute();
}

/**
 * Of the outvoted providers of a task, those whose output the trusted check agrees with (read
 * before the review's transaction: blob reads).
 *
 * @example
 * const wronged = await wronglyOutvoted(deps, canary.source_task_id, checkTensors);
 */
export async function wronglyOutvoted(d: WorkDeps, taskId: string, check: TensorSet) {
  const out: Array<{ task_id: string; provider: string }> = [];
  for (const o of await outvotedOf(d.db, taskId)) {
    const theirs = decodeSafetensors(await d.blobs.read(o.output_cid));
    if (outputsAgree(theirs, check)) out.push({ task_id: o.task_id, provider: o.provider });
  }
  return out;
}
