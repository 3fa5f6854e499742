/**
 * Verdicts: storing a task's verdict and acting on it in the caller's transaction
 * (`settleVerdict`: the task completes with the accepted output or fails with its job; faults,
 * slash entries, reputations and the bill are written either way), and dropping an audit that
 * cannot run because no other provider is online (`waiveAudit`).
 */
import type { Selectable, Transaction } from 'kysely';
import type { ErrorCode } from '../../errors/codes.ts';
import type { Usage } from '../../protocol/schemas.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { LeaseTermsRow } from '../market/marketTypes.ts';
import type { Database } from '../store/schema.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import { isTrusted } from '../verification/reputation.ts';
import { TaskVerification, type Verdict, type VerificationEvent } from '../verification/taskVerification.ts';
import { seedCanary } from './canaries.ts';
import { recordOutcome } from './faults.ts';
import { afterSettle, failJob, jobInfo } from './jobs.ts';
import {
  addTaskFailed,
  clearAudit,
  completeJob,
  failTask,
  latestExecutionBy,
  taskIndex,
  verificationPolicyOf,
} from './leaseQueries.ts';
import { initFor, lockedVerification } from './openVerifications.ts';
import { insertFault, insertSlash } from './providerQueries.ts';
import { billDeferredOutputs, reopenAfterFault } from './recheckCaught.ts';
import { settleTaskLocks } from './stakeLocks.ts';
import {
  agreeingProviders,
  noteVerifiedSize,
  slashCapOf,
  slashSizeMilli,
  verifiedUnitsMilli,
} from './taskEconomics.ts';
import { taskTimeoutCause } from './timeoutCause.ts';
import { keepForReview } from './verdictReviews.ts';
import {
  forgetVerification,
  type JobInfo,
  reputationOf,
  type Settled,
  type WorkDeps,
  type WorkState,
} from './workState.ts';

type ExecutionRow = Selectable<Database['task_executions']>;

/**
 * A verdict as JSON (bigints as decimal strings).
 *
 * @example
 * verdictJson(verdict); // '{"taskId":"0x…","status":"accepted",…}'
 */
export function verdictJson(v: Verdict): string {
  return JSON.stringify(v, (_k, value) => (typeof value === 'bigint' ? value.toString() : value));
}

/**
 * Stores a verdict and acts on it in the caller's transaction: accepted → the task completes with
 * the accepted output (and maybe the job); disputed or rejected → the task and its job fail.
 * Faults, slash entries and reputation changes are written either way. Call {@link afterSettle}
 * with the result once the transaction committed.
 *
 * @example
 * const r = await db.transaction().execute((trx) => settleVerdict(state, deps, trx, jobId, verdict, tv.log()));
 * afterSettle(state, deps, jobId, r);
 */
export async function settleVerdict(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  decided: Verdict,
  log: readonly VerificationEvent[],
  known: {
    /** The verification row may not exist yet: insert it (with this policy and audit flag) if so. */
    row?: { policy: VerificationPolicy; audit: boolean };
    /** The task's executions as stored, oldest first (read in the caller's transaction). */
    executions?: ExecutionRow[];
    job?: JobInfo;
    /** A dispute for another reason than no majority (the job's failure code and message). */
    dispute?: { code: ErrorCode; reason: string; message: string };
    /** Lease rows as they stand in this transaction (the result's own, completed): billing skips their read. */
    leases?: ReadonlyMap<string, LeaseTermsRow>;
  } = {},
): Promise<Settled> {
  const { events, q, stmt } = d;
  const t = d.now();
  let verdict = decided;
  const taskId = verdict.taskId;
  forgetVerification(s, taskId);
  // Stake locked per lease: the verdict releases every lock of the task, and slashes the faulted
  // providers' locks; their slash entries are those locks (F_task = k · R_task, stakeLocks.ts).
  // …and never more than k × what the task really cost, priced from its agreeing executions
  // (a first task of a job is locked at the job's worst case; taskEconomics.ts).
  // Sized from agreeing executions: verified ones, or an untrusted group that agreed (unverified).
  const sized =
    agreeingProviders(verdict.outcomes).size > 0 && verdict.status === 'accepted'
      ? await verifiedSize(s, d, trx, jobId, verdict, known)
      : undefined;
  const locked = await settleTaskLocks(
    s,
    d,
    trx,
    taskId,
    new Set(verdict.faults.map((f) => f.provider)),
    t,
    sized && d.market ? slashCapOf(s.econ.reward, sized) : undefined,
  );
  if (locked.size > 0) {
    verdict = {
      ...verdict,
      slashes: verdict.slashes.map((sl) => {
        const amount = locked.get(sl.provider.toLowerCase());
        return amount === undefined ? sl : { ...sl, amount };
      }),
    };
  }
  // Who was trusted before this verdict credits anyone: a canary is seeded only from a verdict a
  // provider that was already trusted agreed with (not one this very verdict made trusted).
  const trustedBefore = new Set(
    verdict.outcomes
      .filter((o) => isTrusted(reputationOf(s, d.now, o.provider)))
      .map((o) => o.provider.toLowerCase()),
  );
  const set = {
    taskId,
    status: verdict.status,
    verdict: verdictJson(verdict),
    log: JSON.stringify(log),
    at: t,
  };
  if (known.row) {
    await stmt.run(trx, q.settleVerification, {
      ...set,
      jobId,
      policy: JSON.stringify(known.row.policy),
      audit: known.row.audit ? 1 : 0,
    });
  } else {
    await stmt.run(trx, q.updateVerification, set);
  }
  // Money: the paid executions of an accepted task go into the ledger in this transaction.
  await d.market?.onVerdict(trx, jobId, verdict, {
    ...(known.job ? { job: known.job } : {}),
    ...(known.executions ? { executions: known.executions } : {}),
    ...(known.leases ? { leases: known.leases } : {}),
  });
  // Trust is earned only from checks by providers already trusted: a valid outcome counts fully
  // when another agreeing provider was trusted before this verdict, and never on a job the
  // provider submitted itself; otherwise it is `agreed` (score and record, not the trust counter).
  const client = (known.job ?? (await jobInfo(s, d, jobId, trx)))?.client.toLowerCase();
  const agreeing = verdict.outcomes.filter((o) => o.outcome === 'valid').map((o) => o.provider.toLowerCase());
  const checkedByTrusted = (p: string) => agreeing.some((a) => a !== p && trustedBefore.has(a));
  // An accepted group with no trusted member (no trusted provider could take the audit or a
  // replica seat) is `unverified`; its members still agreed with each other, which counts as
  // `agreed` (exposure, never trust), as it did when such a group was reported verified.
  const unverifiedAgreeing = verdict.outcomes.filter((o) => o.outcome === 'unverified').length >= 2;
  for (const o of verdict.outcomes) {
    const who = o.provider.toLowerCase();
    if (o.outcome === 'unverified' && unverifiedAgreeing) {
      await recordOutcome(s, d, trx, o.provider, 'agreed', undefined, taskId);
    } else if (o.outcome === 'valid') {
      await recordOutcome(
        s,
        d,
        trx,
        o.provider,
        checkedByTrusted(who) && who !== client ? 'valid' : 'agreed',
        undefined,
        taskId,
      );
    } else if (o.outcome === 'fault') {
      await recordOutcome(s, d, trx, o.provider, o.outcome, undefined, taskId);
    } else if (o.outcome === 'timeout') {
      const timeoutSec = (known.job ?? (await jobInfo(s, d, jobId, trx)))?.spec.taskTimeoutSec;
      const cause = await taskTimeoutCause(trx, taskId, o.provider, timeoutSec);
      await recordOutcome(s, d, trx, o.provider, o.outcome, cause);
    }
    // Only valid and unverified executions are paid (and counted as completed work).
    if (o.outcome === 'valid' || o.outcome === 'unverified') {
      await stmt.run(trx, q.taskCompletedBy, { address: o.provider });
    }
  }
  for (const f of verdict.faults) {
    const slash = verdict.slashes.find((x) => x.provider === f.provider);
    await insertFault(trx, {
      task_id: taskId,
      job_id: jobId,
      provider: f.provider,
      kind: f.evidence.kind,
      evidence: JSON.stringify(f.evidence),
      created_at: t,
    });
    await addTaskFailed(trx, f.provider);
    await events.append(trx, jobId, 'provider.faulted', {
      provider: f.provider,
      taskId,
      kind: f.evidence.kind,
      faultyDigest: f.evidence.faultyDigest ?? null,
      acceptedDigest: f.evidence.acceptedDigest ?? null,
      agreeing: f.evidence.agreeing,
      slashed: (slash?.amount ?? 0n).toString(),
    });
  }
  // A provider proven faulty: its outputs of running audited jobs that nobody checked are run
  // again, and were never billed (recheckCaught.ts).
  for (const f of verdict.faults) await reopenAfterFault(s, d, trx, f.provider, { jobId, taskId });
  for (const sl of verdict.slashes) {
    await insertSlash(trx, {
      task_id: taskId,
      provider: sl.provider,
      amount: sl.amount.toString(),
      evidence: JSON.stringify(sl.evidence),
      created_at: t,
    });
  }
  if (verdict.status !== 'accepted' || !verdict.acceptedFrom) {
    const message =
      verdict.status === 'disputed'
        ? (known.dispute?.message ?? `no strict majority among ${verdict.executions} executions`)
        : 'no execution produced an acceptable output';
    await failTask(trx, taskId, message, t);
    if (verdict.status === 'disputed') {
      await events.append(trx, jobId, 'task.disputed', {
        taskId,
        executions: verdict.executions,
        ...(known.dispute ? { reason: known.dispute.reason, slashed: [] } : {}),
      });
    }
    const task = await taskIndex(trx, taskId);
    const cancelled = await failJob(
      s,
      d,
      trx,
      jobId,
      verdict.status === 'disputed' ? (known.dispute?.code ?? 'PLX_TASK_DISPUTED') : 'PLX_TASK_FAILED',
      `task ${task.idx}: ${message}`,
      { taskIndex: task.idx },
    );
    return { jobDone: false, cancelled };
  }
  const acceptedFrom = verdict.acceptedFrom;
  const accepted =
    known.executions?.findLast((e) => e.provider === acceptedFrom) ??
    (await latestExecutionBy(trx, taskId, acceptedFrom));
  await stmt.run(trx, q.completeTask, {
    id: taskId,
    outputCid: accepted.output_cid,
    provider: accepted.provider,
    result: accepted.result,
    at: t,
  });
  const info = known.job ?? (await jobInfo(s, d, jobId, trx));
  if (!info) throw new Error(`job ${jobId} of task ${taskId} is not in the store`);
  const { tasks_done: done } = (await stmt.first(trx, q.jobTaskDone, { id: jobId, at: t }))!;
  const job = { tasks_done: done, tasks_total: info.tasksTotal };
  // A training job's rounds and completion belong to its round manager (src/coordinator/training),
  // which runs once this transaction committed (afterSettle).
  if (verdict.verified) {
    await seedCanary(s, d, trx, jobId, taskId, verdict, accepted.output_cid, trustedBefore);
    // A verdict that faulted outvoted providers stays reviewable (verdictReviews.ts).
    await keepForReview(s, d, trx, jobId, taskId, verdict, accepted.output_cid);
    await events.append(trx, jobId, 'task.verified', {
      taskId,
      outputDigest: verdict.acceptedDigest ?? null,
      agreeing: verdict.outcomes.filter((o) => o.outcome === 'valid').map((o) => o.provider),
      executions: verdict.executions,
    });
  }
  await events.append(trx, jobId, 'task.completed', {
    taskId,
    provider: accepted.provider,
    output: accepted.output_cid,
    usage: (JSON.parse(accepted.result) as { usage: unknown }).usage,
    verified: verdict.verified,
    done: job.tasks_done,
    total: job.tasks_total,
  });
  if (info.spec.kind === 'train.diloco') return { jobDone: false, cancelled: [], training: info.spec };
  if (job.tasks_done === job.tasks_total) {
    await billDeferredOutputs(d, trx, jobId, info.spec);
    await completeJob(trx, jobId, t);
    await events.append(trx, jobId, 'job.completed', { tasks: job.tasks_total });
    return { jobDone: true, cancelled: [] };
  }
  return { jobDone: false, cancelled: [] };
}

/**
 * The billed size of a verified task from its agreeing executions (median), recorded as its
 * model's latest verified size (the estimate for the model's next jobs); undefined without one.
 */
async function verifiedSize(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  verdict: Verdict,
  known: { executions?: ExecutionRow[]; job?: JobInfo },
): Promise<bigint | undefined> {
  const job = known.job ?? (await jobInfo(s, d, jobId, trx));
  if (!job) return undefined;
  const valid = agreeingProviders(verdict.outcomes);
  const rows =
    known.executions ??
    (await trx.selectFrom('task_executions').selectAll().where('task_id', '=', verdict.taskId).execute());
  const usages = rows
    .filter((e) => valid.has(e.provider.toLowerCase()))
    .map((e) => (JSON.parse(e.result) as { usage: Usage }).usage);
  const units = verifiedUnitsMilli(job, usages);
  if (units !== undefined) noteVerifiedSize(s, { ...job, id: jobId }, units);
  // The slash cap is sized by the largest agreeing report, not a median: colluders who computed
  // the right answer and reported tiny usage would otherwise be a majority of the agreeing
  // executions (two allies beside one honest checker) and shrink their cheater's slash. A high
  // report can only raise the cap, and the slash never exceeds the lease's lock (`min(lock, cap)`).
  return slashSizeMilli(job, usages);
}

/**
 * An audited primary whose audit cannot run because no other provider is online (a one-provider
 * network, or the only candidate left): the audit is dropped and the primary's result accepted
 * unverified, as if the draw had not picked it. The auditor's lost attempts still count as
 * timeouts. Without this a lone provider's jobs would wait for their deadline.
 *
 * @example
 * if (role === 'auditor' && !anotherProviderOnline(state, involved)) await waiveAudit(state, deps, taskId, jobId, tv);
 */
export async function waiveAudit(
  s: WorkState,
  d: WorkDeps,
  taskId: string,
  jobId: string,
  tv: TaskVerification,
): Promise<void> {
  const log = tv.log();
  // Every primary execution, not only the first: a primary that abandoned or withdrew its
  // commitment was replaced by another primary, and its fault must stay in the verdict.
  const primaries = new Set(
    log.filter((e) => e.type === 'assign' && e.role === 'primary').map((e) => e.provider),
  );
  if (primaries.size === 0) return;
  const primaryEvents = log.filter((e) => primaries.has(e.provider));
  const abandonedAuditors = log.filter((e) => e.type === 'abandon' && !primaries.has(e.provider));
  const outputs = s.outputsOf.get(taskId) ?? new Map<string, TensorSet>();
  const policy = JSON.parse((await verificationPolicyOf(d.db, taskId)).policy) as VerificationPolicy;
  const unaudited = TaskVerification.restore(initFor(s, taskId, policy, false), primaryEvents, (digest) =>
    outputs.get(digest),
  );
  const verdict = unaudited.verdict();
  if (!verdict) return;
  let result: Settled = { jobDone: false, cancelled: [] };
  await d.db.transaction().execute(async (trx) => {
    await clearAudit(trx, taskId);
    const timeoutSec = (await jobInfo(s, d, jobId, trx))?.spec.taskTimeoutSec;
    for (const a of abandonedAuditors)
      await recordOutcome(
        s,
        d,
        trx,
        a.provider,
        'timeout',
        await taskTimeoutCause(trx, taskId, a.provider, timeoutSec),
      );
    await d.events.append(trx, jobId, 'task.audit-waived', { taskId, reason: 'no other provider online' });
    result = await settleVerdict(s, d, trx, jobId, verdict, log);
  });
  afterSettle(s, d, jobId, result);
}

/** Per loop state: open verifications found not waiting for ground truth, at their updated_at. */
const notWaiting = new WeakMap<WorkState, Map<string, number>>();

/**
 * The liveness deadline of "no fault without ground truth": a task whose only open slot is a
 * ground-truth round (a provider trusted now must break a disagreement) that nobody took for
 * `groundTruthWaitMs` — no trusted provider online, or none eligible — is disputed with nobody
 * slashed for the disagreement: its job fails with `PLX_NO_GROUND_TRUTH`, the client is not charged
 * for the task (no execution of a disputed task is paid), locks are released (docs/verification.md
 * "Ground truth deadline"). Runs on every sweep; returns how many tasks it disputed.
 *
 * @example
 * await disputeStalledGroundTruth(state, deps);
 */
export async function disputeStalledGroundTruth(s: WorkState, d: WorkDeps): Promise<number> {
  const rows = await d.db
    .selectFrom('task_verifications')
    .select(['task_id', 'job_id', 'updated_at'])
    .where('status', '=', 'open')
    .where('updated_at', '<', d.now() - s.groundTruthWaitMs)
    .orderBy('updated_at')
    .limit(100)
    .execute();
  // Old open verifications that wait for something else are not loaded again until they change.
  let seen = notWaiting.get(s);
  if (!seen) {
    seen = new Map();
    notWaiting.set(s, seen);
  }
  const current = new Set(rows.map((r) => r.task_id));
  for (const k of seen.keys()) if (!current.has(k)) seen.delete(k);
  let n = 0;
  for (const r of rows) {
    if (seen.get(r.task_id) === r.updated_at) continue;
    let settled: Settled | undefined;
    await d.db.transaction().execute(async (trx) => {
      const tv = await lockedVerification(s, d, trx, r.task_id);
      if (!tv?.waitsForGroundTruth()) {
        seen.set(r.task_id, r.updated_at);
        return;
      }
      const verdict = tv.disputeWithoutGroundTruth();
      const waited = Math.round(s.groundTruthWaitMs / 1000);
      settled = await settleVerdict(s, d, trx, r.job_id, verdict, tv.log(), {
        dispute: {
          code: 'PLX_NO_GROUND_TRUTH',
          reason: 'no-ground-truth',
          message: `executions disagree and no trusted provider took the tie-break within ${waited} s; nobody was slashed`,
        },
      });
    });
    if (settled) {
      afterSettle(s, d, r.job_id, settled);
      d.events.notify(r.job_id);
      n++;
    }
  }
  return n;
}
