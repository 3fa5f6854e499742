/**
 * A fault reversed on review pays back the outputs it reopened (docs/verification.md "Caught:
 * unchecked outputs re-run", "Reversed faults: reopened outputs paid back"). When a provider P is
 * faulted, its unchecked outputs of running audited jobs are reopened (recheckCaught.ts): run again
 * by someone else, P never paid for them. Each is kept here ({@link recordReopened}). If a review
 * later reverses that fault (two independent trusted checks agree with P: canaryReviews.ts), the
 * reversal's evidence is kept with them ({@link markReinstated}), and once a reopened task's re-run
 * is accepted and charged ({@link settleReopened}, on every sweep):
 *
 * - P's reopened output agrees with a charged execution of the re-run (same cid, or within the
 *   tensor tolerance): P is owed what that execution's provider was paid for the task (its
 *   provider amount), a `compensation` entry of part `reopened` funded, like a denied reward, by
 *   the seized stake of the wrong answer's providers (the ones whose wrong answer got P faulted),
 *   owed until their slashes are applied (reviewCompensations.ts `payOwed`);
 * - it does not agree: nothing (`wrong`): a wrongly faulted provider is not paid for a wrong output;
 * - P has another fault since it delivered the output that no review reversed: nothing
 *   (`caught-again`): that fault alone would have reopened it;
 * - the re-run never completed (job failed or cancelled): nothing (`unrun`).
 *
 * The client pays once, for the re-run, as before: it is never charged nor refunded here.
 * Inference outputs are compared by the tensor tolerance, render frames by the render rule
 * (`compareRenderOutputs`, against the re-run's whole frame, never a region audit's crop);
 * training outputs are never reopened here (`not-compared`).
 * Validators check the entry with the other compensations (validator/checkCompensations.ts).
 */
import type { Selectable, Transaction } from 'kysely';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import type { CompensationMemo, SignedResult } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';
import { compareRenderOutputs, isRegionRenderOutput } from '../verification/compareRenders.ts';
import { compareTensorSets } from '../verification/compareTensors.ts';
import { CHARGE_REFUND_WINDOW_MS } from '../verification/constants.ts';
import { chargesOf, compensationRef, signedExecution } from './reviewCompensations.ts';
import type { WorkDeps } from './workState.ts';

type Trx = Transaction<Database>;
type Row = Selectable<Database['reopened_outputs']>;

/** The reversal's evidence kept with the outputs its fault reopened. */
export type ReversalProof = Pick<
  CompensationMemo,
  'review' | 'expectedCid' | 'check' | 'firstCheck' | 'wrong'
> & {
  reversal: SignedResult;
  sourceTaskId?: string;
};

/**
 * Keeps the outputs a fault of `provider` on `faultTaskId` reopened, in the fault's transaction.
 *
 * @example await recordReopened(trx, cheater, taskId, [{ taskId, jobId, outputCid }], Date.now());
 */
export async function recordReopened(
  trx: Trx,
  provider: string,
  faultTaskId: string,
  outputs: readonly { taskId: string; jobId: string; outputCid: string }[],
  t: number,
): Promise<void> {
  if (outputs.length === 0) return;
  await trx
    .insertInto('reopened_outputs')
    .values(
      outputs.map((o) => ({
        task_id: o.taskId,
        provider: provider.toLowerCase(),
        job_id: o.jobId,
        fault_task_id: faultTaskId,
        output_cid: o.outputCid,
        reopened_at: t,
        proof: null,
        reinstated_at: null,
        settled_at: null,
        outcome: null,
      })),
    )
    .onConflict((oc) => oc.columns(['task_id', 'provider']).doNothing())
    .execute();
}

/**
 * A review reversed the fault of `provider` on `faultTaskId`: the outputs that fault reopened get
 * the reversal's evidence and wait for their re-runs ({@link settleReopened}), in the review's
 * transaction. Without a second check or without the wrong answer's providers (nobody to fund it)
 * they are settled at once as `unfunded`. Returns how many were marked.
 *
 * @example await markReinstated(trx, provider, faultTaskId, proof, Date.now());
 */
export async function markReinstated(
  trx: Trx,
  provider: string,
  faultTaskId: string,
  proof: ReversalProof,
  t: number,
): Promise<number> {
  // The reinstated provider never funds its own payback.
  const wrong = proof.wrong.filter((w) => w.provider.toLowerCase() !== provider.toLowerCase());
  const fundable = wrong.length > 0 && proof.firstCheck !== undefined;
  const r = await trx
    .updateTable('reopened_outputs')
    .set(
      fundable
        ? { proof: JSON.stringify({ ...proof, wrong }), reinstated_at: t }
        : { reinstated_at: t, settled_at: t, outcome: 'unfunded' },
    )
    .where('provider', '=', provider.toLowerCase())
    .where('fault_task_id', '=', faultTaskId)
    .where('reinstated_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Reinstated reopened outputs one sweep looks at (oldest first). */
const SETTLE_PAGE = 100;

/**
 * Settles reinstated reopened outputs whose re-run is decided (module header): records the owed
 * `reopened` compensation of each right one (paid by `payOwed` once funded). Returns how many
 * were settled this time; those whose re-run is still open wait for a later sweep.
 *
 * @example await settleReopened(deps);
 */
export async function settleReopened(d: WorkDeps): Promise<number> {
  if (!d.market) return 0;
  const rows = await d.db
    .selectFrom('reopened_outputs')
    .selectAll()
    .where('settled_at', 'is', null)
    .where('reinstated_at', 'is not', null)
    .orderBy('reinstated_at')
    .limit(SETTLE_PAGE)
    .execute();
  let settled = 0;
  for (const r of rows) {
    const decided = await decide(d, r);
    if (!decided) continue;
    const t = d.now();
    await d.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('reopened_outputs')
        .set({ settled_at: t, outcome: decided.outcome })
        .where('task_id', '=', r.task_id)
        .where('provider', '=', r.provider)
        .where('settled_at', 'is', null)
        .executeTakeFirst();
      if (done.numUpdatedRows === 0n) return;
      settled++;
      if (!decided.owed) return;
      const { amount, funders, memo } = decided.owed;
      await trx
        .insertInto('review_compensations')
        .values({
          ref: compensationRef('reopened', r.task_id, r.provider),
          part: 'reopened',
          task_id: r.task_id,
          job_id: r.job_id,
          payee: `provider:${r.provider}:earnings`,
          amount: amount.toString(),
          funders: JSON.stringify(funders),
          memo: JSON.stringify(memo),
          created_at: t,
          paid_epoch: null,
          paid_at: null,
        })
        .onConflict((oc) => oc.column('ref').doNothing())
        .execute();
    });
  }
  return settled;
}

type Decision = {
  outcome: string;
  owed?: { amount: bigint; funders: string[]; memo: CompensationMemo };
};

/** How a reinstated reopened output is settled, or undefined while its re-run is open. */
async function decide(d: WorkDeps, r: Row): Promise<Decision | undefined> {
  const job = await d.db
    .selectFrom('jobs')
    .select(['status', 'spec'])
    .where('id', '=', r.job_id)
    .executeTakeFirst();
  const task = await d.db
    .selectFrom('tasks')
    .select(['status', 'provider'])
    .where('id', '=', r.task_id)
    .executeTakeFirst();
  if (!job || !task) return { outcome: 'unrun' };
  const ended = job.status !== 'queued' && job.status !== 'running';
  if (task.status !== 'completed')
    return ended || task.status === 'failed' ? { outcome: 'unrun' } : undefined;
  const kind = (JSON.parse(job.spec) as JobSpec).kind;
  // Training updates are the round manager's (never reopened here in the first place).
  if (kind !== 'onnx.infer' && kind !== 'blender.render') return { outcome: 'not-compared' };
  const render = kind === 'blender.render';
  const mine = await signedExecution(d.db as unknown as Trx, r.task_id, r.provider);
  if (!mine || mine.outputCid !== r.output_cid) return { outcome: 'unsigned' };
  const delivered = await d.db
    .selectFrom('task_executions')
    .select('created_at')
    .where('assignment_id', '=', mine.assignmentId)
    .executeTakeFirst();
  // Another fault since it delivered the output, not reversed: that fault alone would reopen it.
  const again = await d.db
    .selectFrom('verification_faults as f')
    .select('f.id')
    .where('f.provider', '=', r.provider)
    .where('f.task_id', '!=', r.fault_task_id)
    .where('f.created_at', '>=', delivered?.created_at ?? 0)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('fault_reversals as x')
            .select('x.id')
            .whereRef('x.task_id', '=', 'f.task_id')
            .whereRef('x.provider', '=', 'f.provider'),
        ),
      ),
    )
    .executeTakeFirst();
  if (again) return { outcome: 'caught-again' };
  // One payback per task (validators: one per charge): a task reopened twice pays the first.
  const paid = await d.db
    .selectFrom('review_compensations')
    .select('ref')
    .where('task_id', '=', r.task_id)
    .where('part', '=', 'reopened')
    .executeTakeFirst();
  if (paid) return { outcome: 'paid-once' };
  const since = Math.min(d.now(), Date.now()) - CHARGE_REFUND_WINDOW_MS;
  const charges = (await chargesOf(d.db as unknown as Trx, r.job_id, r.task_id, since)).filter(
    (c) => c.provider.toLowerCase() !== r.provider && BigInt(c.providerAmount) > 0n,
  );
  // The re-run's charges are posted at its verdict (checked) or when its job ends (deferred).
  if (charges.length === 0) return ended ? { outcome: 'uncharged' } : undefined;
  const theirs = decodeOr(await d.blobs.read(r.output_cid));
  for (const c of charges) {
    const rerun = await d.db
      .selectFrom('task_executions')
      .select(['provider'])
      .where('assignment_id', '=', c.ref.slice('exec:'.length))
      .executeTakeFirst();
    if (!rerun) continue;
    const result = await signedExecution(d.db as unknown as Trx, r.task_id, rerun.provider);
    if (!result || `exec:${result.assignmentId}` !== c.ref) continue;
    const agrees =
      result.outputCid === r.output_cid ||
      (theirs !== undefined && (await agreesWith(d, result.outputCid, theirs, render)));
    if (!agrees) continue;
    const proof = JSON.parse(r.proof ?? '{}') as ReversalProof;
    const memo: CompensationMemo = {
      part: 'reopened',
      taskId: r.task_id,
      review: proof.review,
      provider: r.provider,
      expectedCid: proof.expectedCid,
      check: proof.check,
      ...(proof.firstCheck ? { firstCheck: proof.firstCheck } : {}),
      wronged: mine,
      reversal: proof.reversal,
      ...(proof.sourceTaskId ? { sourceTaskId: proof.sourceTaskId } : {}),
      wrong: proof.wrong,
      rerun: { provider: rerun.provider.toLowerCase(), result },
      charges: [c],
    };
    return {
      outcome: 'owed',
      owed: { amount: BigInt(c.providerAmount), funders: proof.wrong.map((w) => w.provider), memo },
    };
  }
  return { outcome: 'wrong' };
}

/** Decodes a safetensors output, or undefined when it is not one. */
function decodeOr(bytes: Uint8Array | undefined) {
  if (!bytes) return undefined;
  try {
    return decodeSafetensors(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Whether the output `cid` agrees with `tensors` within the verifier's tolerance; a render frame
 * by the render rule (`compareRenderOutputs`), against a whole frame only: a region audit's
 * output is paid its region's share, not the frame's.
 */
async function agreesWith(
  d: WorkDeps,
  cid: string,
  tensors: NonNullable<ReturnType<typeof decodeOr>>,
  render: boolean,
) {
  const other = decodeOr(await d.blobs.read(cid));
  if (other === undefined) return false;
  if (!render) return compareTensorSets(other, tensors).ok;
  return !isRegionRenderOutput(other) && compareRenderOutputs(other, tensors).ok;
}
