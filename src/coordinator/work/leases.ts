/**
 * Attempts that end without a result: a provider's signed failure report (`handleFailure`), a
 * lease that ran out or a job past its deadline (`sweep`), and the one rule they share
 * (`failAttempt`): the task goes back to the queue in place, or, with no attempts left, its job
 * fails and the job's other leases are revoked.
 *
 * A lease lost with its provider's session before its deadline (`PLX_LEASE_LOST`: the replica
 * holding the session died, the provider's socket closed and it did not come back within the
 * grace, or it reconnected without the task) is not the provider failing the task: the first
 * `LOST_LEASE_ALLOWANCE` (countedFailures.ts) of a task do not count against its `maxAttempts`; each one past
 * them does, so churn cannot keep a task in the queue forever.
 */
import type { Transaction } from 'kysely';
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import { verifyPlexusMessage } from '../../protocol/eip712.ts';
import type { ProviderFailure } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { leasedAssignment, openLeaseOf } from './assignments.ts';
import { expireCanaries } from './canaries.ts';
import { failCanaryLease } from './canaryFailures.ts';
import { commitmentOfAssignment } from './canaryQueries.ts';
import { countedFailures } from './countedFailures.ts';
import { recordFault } from './faults.ts';
import { afterSettle, failJob, jobInfo, revoke } from './jobs.ts';
import {
  addTaskFailed,
  assignmentTimes,
  endAssignment,
  failedAttempts,
  failTask,
  jobRow,
  lockTaskRow,
  retryTask,
  taskAttempts,
} from './leaseQueries.ts';
import { loadVerification, mayReveal, releasableReveals, saveVerification } from './openVerifications.ts';
import { isAnnounced } from './publicExecution.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import { expireReviews } from './reviewDeadlines.ts';
import { releaseLease } from './stakeLocks.ts';
import { disputeStalledGroundTruth, settleVerdict } from './verdicts.ts';
import { forgetVerification, type Lease, send, type WorkDeps, type WorkState } from './workState.ts';

/**
 * Ends one attempt that did not produce a result: the task goes back to the queue (keeping its
 * place) or, with no attempts left, the job fails and its other tasks are cancelled. With
 * verification the dropped execution is a `timeout` outcome (a `bad-reveal` fault when it withdraws
 * a signed commitment) and may complete the round.
 *
 * @example
 * const r = await failAttempt(state, deps, trx, assignment, 'expired', 'PLX_LEASE_EXPIRED', 'no result in time');
 */
export async function failAttempt(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  a: { id: string; task_id: string; job_id: string; provider: string },
  status: 'failed' | 'expired',
  code: string,
  message: string,
): Promise<{ jobFailed: boolean; jobDone?: boolean; cancelled: Lease[] }> {
  const t = d.now();
  await endAssignment(trx, a.id, status, t, code, message);
  await addTaskFailed(trx, a.provider);
  // No fault without a signed commitment: the lease's stake lock is released now (a withdrawn
  // commitment keeps it for the verdict, which slashes it).
  if (!(await commitmentOfAssignment(trx, a.id))) await releaseLease(s, trx, a.id, a.provider, t);
  const task = await taskAttempts(trx, a.task_id);
  const job = await jobInfo(s, d, a.job_id, trx);
  const maxAttempts = job?.spec.maxAttempts ?? 1;
  const lastError = `${code}: ${message}`.slice(0, 2000);
  // Attempts that produced no result (this one included): with verification a task has several
  // executions, so the lease count alone no longer measures failures; leases lost with their
  // session count only past the allowance.
  const failures = countedFailures(await failedAttempts(trx, a.task_id));
  const tv = await loadVerification(s, d, a.task_id, trx);
  let withdrawn: { commitment: string } | undefined;
  if (tv) {
    // A signed commitment the provider withdraws (a failure after committing) or never opens
    // although asked to (its lease ran out in the reveal phase) is a proven fault with the
    // commitment as evidence: otherwise committing a guess and bailing out once something was
    // learned would cost only a timeout. Anything else is not a fault: a `timeout` outcome. Either
    // way the slot is asked for again elsewhere.
    const signed = await commitmentOfAssignment(trx, a.id);
    try {
      const withdraw =
        signed !== undefined && (status === 'failed' || mayReveal(tv, a.provider)) && !tv.verdict();
      withdrawn = withdraw && tv.withdraw(a.provider as Hex, signed.commitment as Hex) ? signed : undefined;
      if (!withdrawn) tv.abandon(a.provider as Hex);
    } catch (err) {
      d.log.warn({ err, taskId: a.task_id, provider: a.provider }, 'abandon of an unknown execution');
    }
    const verdict = tv.verdict();
    if (verdict) {
      const r = await settleVerdict(s, d, trx, a.job_id, verdict, tv.log());
      return { jobFailed: verdict.status !== 'accepted', jobDone: r.jobDone, cancelled: r.cancelled };
    }
    await saveVerification(d, trx, tv, a.job_id, policyOfSpec(job!.spec), false);
    // The dropped execution may have been the last one the round waited for.
    for (const r of await releasableReveals(d, trx, a.task_id, tv)) {
      send(s, r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
    }
  }
  // The job's status as stored, not this process's cached copy: with replicas another one may
  // have started the job (a copy cached while it was queued would fail it here).
  const running = (await jobRow(trx, a.job_id))?.status === 'running';
  if (failures < maxAttempts && running) {
    await retryTask(trx, a.task_id, tv && tv.pending().length === 0 ? 'assigned' : 'queued', lastError, t);
    // No provider: who ran an open task's executions is secret until its verdict; an auditor's or
    // tie-breaker's lost lease not even that it existed (publicExecution.ts).
    if (isAnnounced(tv, a.provider))
      await d.events.append(trx, a.job_id, 'task.retry', {
        taskId: a.task_id,
        code,
        message,
      });
    return { jobFailed: false, cancelled: [] };
  }
  forgetVerification(s, a.task_id);
  if (withdrawn) {
    // No verdict will come (the job fails now), so the withdrawn commitment is judged here.
    await recordFault(s, d, trx, {
      provider: a.provider,
      taskId: a.task_id,
      jobId: a.job_id,
      kind: 'bad-reveal',
      evidence: {
        taskId: a.task_id,
        kind: 'bad-reveal',
        agreeing: [],
        digests: {},
        reasons: [`signed commitment ${withdrawn.commitment} withdrawn without a reveal`],
      },
    });
  }
  await failTask(trx, a.task_id, lastError, t);
  const cancelled = await failJob(
    s,
    d,
    trx,
    a.job_id,
    'PLX_TASK_FAILED',
    `task ${task.idx} failed ${task.attempts} time(s); last error ${lastError}`,
    {
      taskIndex: task.idx,
      lastError,
    },
  );
  return { jobFailed: true, cancelled };
}

/**
 * A provider's signed failure report for one of its leases: the attempt ends (see
 * {@link failAttempt}; a canary's, canaryFailures.ts) and its slot is free for other work.
 *
 * @example
 * await handleFailure(state, deps, address, { type: 'failure', assignmentId, taskId, code: 'E_RUNTIME', message: 'oom', issuedAt, signature });
 */
export async function handleFailure(
  s: WorkState,
  d: WorkDeps,
  address: Address,
  msg: ProviderFailure,
): Promise<void> {
  await verifyPlexusMessage({
    chainId: d.chainId,
    primaryType: 'TaskFailure',
    message: {
      provider: address,
      assignmentId: msg.assignmentId as Hex,
      taskId: msg.taskId as Hex,
      reasonHash: keccak256(toBytes(`${msg.code}:${msg.message}`)),
      issuedAt: BigInt(msg.issuedAt),
    },
    signature: msg.signature,
    expectedSigner: address,
  });
  // The reference before any lookup, then one lookup of both kinds of lease: a wrong `taskId`, an
  // unknown lease and another's are each answered alike for a canary and a real task (issue 15).
  const { canary } = await openLeaseOf(d, address, msg.assignmentId, msg.taskId);
  let jobId = '';
  let jobDone = false;
  let cancelled: Lease[] = [];
  if (canary) jobId = (await failCanaryLease(s, d, address, canary, msg)) ?? '';
  else
    await d.db.transaction().execute(async (trx) => {
      const a = await leasedAssignment(d, trx, address, msg.assignmentId, msg.taskId);
      jobId = a.job_id;
      // The signed report goes with the lease: a timeout journaled for it carries it (timeoutCause.ts).
      await trx
        .updateTable('assignments')
        .set({
          failure_auth: JSON.stringify({
            reasonHash: keccak256(toBytes(`${msg.code}:${msg.message}`)),
            issuedAt: msg.issuedAt,
            signature: msg.signature,
          }),
        })
        .where('id', '=', a.id)
        .execute();
      const r = await failAttempt(s, d, trx, a, 'failed', msg.code, msg.message);
      cancelled = r.cancelled;
      jobDone = r.jobDone === true;
    });
  if (jobDone) afterSettle(s, d, jobId, { jobDone, cancelled: [] });
  d.scheduler.release(address);
  revoke(s, d, cancelled, 'job failed');
  d.metrics.tasksFinished.inc({ status: 'failed' });
  if (jobId) d.events.notify(jobId);
  void d.dispatch();
}

/**
 * Expires canary and task leases past their time (each task lease one transaction, its provider
 * told to stop) and fails jobs past their deadline; dispatches if anything came free.
 *
 * @example
 * setInterval(() => void sweep(state, deps), 1000);
 */
export async function sweep(s: WorkState, d: WorkDeps): Promise<void> {
  const { db } = d;
  const t = d.now();
  await expireCanaries(s, d, { before: t });
  const expired = await d.stmt.all(db, d.q.expiredLeases, { before: t });
  for (const a of expired) {
    let cancelled: Lease[] = [];
    let jobDone = false;
    const still = await db.transaction().execute(async (trx) => {
      // Replicas sweep too: the task's row lock makes one of them expire it, the other see it done.
      if (d.shared) await lockTaskRow(trx, a.task_id);
      const cur = await assignmentTimes(trx, a.id);
      if (cur?.status !== 'leased') return false;
      // A lease that ends before its deadline was shortened to the reconnect grace when its
      // provider's session closed (here, or with a dead replica): lost, not failed.
      const timeoutSec = (await jobInfo(s, d, a.job_id, trx))?.spec.taskTimeoutSec;
      const deadline = timeoutSec === undefined ? 0 : cur.created_at + timeoutSec * 1000;
      const lost = cur.lease_expires_at < deadline && t < deadline;
      const r = lost
        ? await failAttempt(
            s,
            d,
            trx,
            a,
            'expired',
            'PLX_LEASE_LOST',
            "the provider's session closed and it did not come back with the task in time",
          )
        : await failAttempt(
            s,
            d,
            trx,
            a,
            'expired',
            'PLX_LEASE_EXPIRED',
            'no result before the lease expired',
          );
      cancelled = r.cancelled;
      jobDone = r.jobDone === true;
      return true;
    });
    if (!still) continue;
    // The provider may still be connected and busy with it: tell it to stop.
    if (s.links.has(a.provider)) {
      d.scheduler.release(a.provider);
      send(s, a.provider, { type: 'cancel', assignmentId: a.id as Hex, reason: 'lease expired' });
    }
    revoke(s, d, cancelled, 'job failed');
    if (jobDone) afterSettle(s, d, a.job_id, { jobDone, cancelled: [] });
    d.metrics.tasksFinished.inc({ status: 'expired' });
    d.events.notify(a.job_id);
  }
  const late = await d.stmt.all(db, d.q.lateJobs, { before: t });
  for (const j of late) {
    const leases = await db
      .transaction()
      .execute((trx) =>
        failJob(s, d, trx, j.id, 'PLX_DEADLINE_EXCEEDED', 'the job did not finish before its deadline', {}),
      );
    revoke(s, d, leases, 'deadline exceeded');
    d.events.notify(j.id);
  }
  // Issue 15: tasks that waited too long for ground truth; compensations now covered by seized stake.
  const stalled = await disputeStalledGroundTruth(s, d);
  await expireReviews(d);
  await payOwedCompensations(d);
  if (expired.length > 0 || late.length > 0 || stalled > 0) void d.dispatch();
}
