/**
 * Open verifications (tasks without a verdict yet) between memory and the store: each one's
 * `TaskVerification` machine lives in `state.verifications` and its event log in
 * `task_verifications`, so a restarted coordinator rebuilds it (`loadVerification`). Also the
 * audit draw that opens one (`openVerification`) and the commit–reveal question of which
 * committed providers may now reveal (`releasableReveals`).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Hex } from 'viem';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { Database } from '../store/schema.ts';
import { epochSeed, recordAuditDraw } from '../verification/auditSeeds.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import { isTrusted } from '../verification/reputation.ts';
import {
  TaskVerification,
  type TaskVerificationInit,
  type VerificationEvent,
} from '../verification/taskVerification.ts';
import { jobInfo } from './jobs.ts';
import { executionOutputs, lockTaskRow } from './leaseQueries.ts';
import { sampledRenderDecision } from './renderAudits.ts';
import { renderValueBasis } from './renderValueFloor.ts';
import { lockFor } from './stakeLocks.ts';
import { taskEconomics } from './taskEconomics.ts';
import { anotherProviderOnline, reputationOf, type WorkDeps, type WorkState } from './workState.ts';

/**
 * The init of a task's verification machine, priced with the state's economics.
 *
 * @example
 * const tv = new TaskVerification(initFor(state, taskId, { kind: 'none' }, false));
 */
export function initFor(
  s: WorkState,
  taskId: string,
  policy: VerificationPolicy,
  audit: boolean,
): TaskVerificationInit {
  return { taskId, policy, audit, reward: s.econ.reward, stakeOf: () => s.econ.stake };
}

/**
 * The open verification of a task: from memory, or rebuilt from its stored event log and the
 * stored outputs (after a restart). Undefined when the task has none yet (audit and none
 * policies create it when the first result arrives) or it already has a verdict.
 *
 * @example
 * const tv = await loadVerification(state, deps, taskId, trx);
 * const next = tv?.pending()[0];
 */
export async function loadVerification(
  s: WorkState,
  d: WorkDeps,
  taskId: string,
  executor: Kysely<Database> | Transaction<Database> = d.db,
): Promise<TaskVerification | undefined> {
  // With replicas, another process may have assigned or judged an execution since this one cached it.
  const cached = s.verifications.get(taskId);
  if (cached && !d.shared) return cached;
  const row = await d.stmt.first(executor, d.q.openVerification, { taskId });
  if (!row) return undefined;
  const execs = await executionOutputs(executor, taskId);
  const outputs = new Map<string, TensorSet>();
  for (const e of execs) {
    outputs.set(e.output_digest, decodeSafetensors(await d.blobs.read(e.output_cid, executor)));
  }
  const tv = TaskVerification.restore(
    initFor(s, taskId, JSON.parse(row.policy) as VerificationPolicy, row.audit === 1),
    JSON.parse(row.log) as VerificationEvent[],
    (digest) => outputs.get(digest),
  );
  s.verifications.set(taskId, tv);
  s.outputsOf.set(taskId, outputs);
  return tv;
}

/**
 * With replicas (`d.shared`): locks the task's row for the rest of the caller's transaction
 * (`FOR UPDATE`) and reads its open verification from the store, so two replicas handling results,
 * commitments or leases of one task take turns and each sees the other's writes. Without replicas
 * the process's copy is the truth: the cached one.
 *
 * @example
 * const tv = await lockedVerification(state, deps, trx, taskId);
 */
export async function lockedVerification(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  taskId: string,
): Promise<TaskVerification | undefined> {
  if (!d.shared) return loadVerification(s, d, taskId, trx);
  await lockTaskRow(trx, taskId);
  s.verifications.delete(taskId);
  return loadVerification(s, d, taskId, trx);
}

/**
 * Writes a verification's log (and, when new, its row) in the caller's transaction.
 *
 * @example
 * await saveVerification(deps, trx, tv, jobId, policy, false);
 */
export async function saveVerification(
  d: WorkDeps,
  trx: Transaction<Database>,
  tv: TaskVerification,
  jobId: string,
  policy: VerificationPolicy,
  audit: boolean,
): Promise<void> {
  await d.stmt.run(trx, d.q.saveVerification, {
    taskId: tv.taskId,
    jobId,
    policy: JSON.stringify(policy),
    audit: audit ? 1 : 0,
    log: JSON.stringify(tv.log()),
    at: d.now(),
  });
}

/**
 * First result (v1) or commitment (v2) of an `audit` or `none` task: draw the audit now. An
 * audit is only drawn while another provider is online to run it. With a market (epochs), the
 * draw uses the epoch's committed seed and is recorded, so validators can recompute it once the
 * seed is revealed (verification/auditSeeds.ts); without one, the process's secret seed.
 *
 * @example
 * const { tv, audit } = await openVerification(state, deps, trx, assignment, address, policyOfSpec(job.spec));
 */
export async function openVerification(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  a: { task_id: string; job_id?: string },
  address: string,
  policy: VerificationPolicy,
): Promise<{ tv: TaskVerification; audit: boolean }> {
  let audit = false;
  if (policy.kind === 'audit') {
    const epoch = d.market ? await d.market.currentEpoch(trx) : undefined;
    const seed = epoch === undefined ? undefined : await epochSeed(trx, epoch);
    // Priced per task: a large task's saving is large, its slash is not, so it is audited more.
    const job = a.job_id === undefined ? undefined : await jobInfo(s, d, a.job_id, trx);
    const priced = await taskEconomics(s, d, trx, job && a.job_id ? { ...job, id: a.job_id } : undefined);
    // F_task: the stake this provider's lease locked, never more than its bonded stake (stakeLocks.ts).
    const econ = { ...priced, slashable: lockFor(s, d, address, priced.slashable) };
    // Render jobs: a provider with a clean record is audited on a sample of the job's frames.
    // Its value floor is priced from verified frames, not the worst case (renderValueFloor.ts).
    const renderJob = job?.spec.kind === 'blender.render' && a.job_id !== undefined ? job : undefined;
    const value =
      renderJob && a.job_id !== undefined
        ? await renderValueBasis(s, d, trx, { ...renderJob, id: a.job_id }, econ.reward)
        : undefined;
    const valueReward = value?.valueReward;
    // When the reputation is read (no await from here to the rate): validators replay the journal
    // to this time and recompute the rate (docs/validators.md, "Audit rates and reputation").
    const at = d.now();
    let decision = d.audits.shouldAudit(address as Hex, { taskId: a.task_id, ...econ }, seed);
    if (renderJob?.spec.kind === 'blender.render' && valueReward !== undefined)
      decision = sampledRenderDecision(s, d, address, renderJob.spec.inputs.length, decision, valueReward);
    const otherOnline = anotherProviderOnline(s, [address]);
    audit = decision.audit && otherOnline;
    if (epoch !== undefined) {
      await recordAuditDraw(trx, {
        taskId: a.task_id,
        provider: address,
        epoch,
        rate: decision.rate,
        draw: decision.draw,
        audited: audit,
        otherOnline,
        economics: {
          reward: econ.reward.toString(),
          honestCost: econ.honestCost.toString(),
          slashable: econ.slashable.toString(),
        },
        basis: {
          at,
          unitReward: s.econ.reward.toString(),
          ...(valueReward !== undefined ? { valueReward: valueReward.toString() } : {}),
          // What the value reward was priced from (validators re-derive it: checkAuditRates.ts).
          ...(value?.valueUnits !== undefined ? { valueUnits: value.valueUnits.toString() } : {}),
          ...(value?.valueFrom !== undefined ? { valueFrom: value.valueFrom as Hex } : {}),
        },
      });
    }
  }
  const tv = new TaskVerification(initFor(s, a.task_id, policy, audit));
  tv.assign(address as Hex, 'primary', isTrusted(reputationOf(s, d.now, address)));
  s.verifications.set(a.task_id, tv);
  return { tv, audit };
}

/**
 * Whether `provider` may reveal its output now (false when it has no live execution).
 *
 * @example
 * if (!mayReveal(tv, address)) throw tooEarly();
 */
export function mayReveal(tv: TaskVerification, provider: string): boolean {
  try {
    return tv.canReveal(provider as Hex);
  } catch {
    return false; // no live execution (abandoned): nothing to reveal
  }
}

/**
 * Signed commitments of a task whose round's commit phase is over and whose output has not been
 * revealed yet: their providers are told to reveal now.
 *
 * @example
 * for (const r of await releasableReveals(deps, trx, taskId, tv)) send(state, r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
 */
export async function releasableReveals(
  d: WorkDeps,
  trx: Transaction<Database>,
  taskId: string,
  tv: TaskVerification,
): Promise<{ assignment_id: string; provider: string }[]> {
  if (tv.verdict()) return [];
  // Commitments of the task without an execution (a revealed output) yet, in one query.
  const commits = await d.stmt.all(trx, d.q.unrevealedCommitments, { taskId });
  return commits.filter((c) => mayReveal(tv, c.provider));
}
