/**
 * Providers' standing: one verified outcome applied to a provider's reputation (`recordOutcome`,
 * which also re-sizes its concurrency limit in the scheduler), and a proven fault outside a job's
 * verdict (`recordFault`: a wrong capability proof, a failed canary) with its evidence, slash entry
 * and event. Faults inside a job's verdict are written by verdicts.ts.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import { shadowJobOfCanaryTask } from '../jobs/shadowJobs.ts';
import type { ReputationEntry, TimeoutCause } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';
import {
  newReputation,
  type Outcome,
  parseReputation,
  type ReputationState,
  updateReputation,
} from '../verification/reputation.ts';
import { type FaultKind, publicFaultKind } from '../verification/slashing.ts';
import { reviewCanariesOf } from './canaryReviewQueries.ts';
import { addTaskFailed } from './leaseQueries.ts';
import { insertFault, insertSlash, storedReputation } from './providerQueries.ts';
import { rollPublicReputation } from './publicReputation.ts';
import { reopenAfterFault } from './recheckCaught.ts';
import type { WorkDeps, WorkState } from './workState.ts';

/**
 * Applies one verified outcome to a provider's stored reputation. A `timeout` goes into the journal
 * with its cause (the lease, or the provider's signed failure: what validators check it by).
 *
 * @example
 * await recordOutcome(state, deps, trx, provider, 'timeout', cause);
 */
export async function recordOutcome(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  provider: string,
  outcome: Outcome,
  cause?: TimeoutCause,
  /** The task the outcome is about (a timeout's is its cause's). */
  taskId?: string,
): Promise<void> {
  const address = provider.toLowerCase();
  const rep = await currentReputation(s, d, trx, address);
  const at = d.now();
  const next = updateReputation(rep, outcome, at);
  s.reputations.set(address, next);
  d.scheduler.refresh(address);
  // The public view keeps showing the reputation this epoch began with (publicReputation.ts).
  await rollPublicReputation(d, trx, address, at);
  await d.stmt.run(trx, d.q.setReputation, { address, reputation: JSON.stringify(next) });
  const task = taskId ?? (cause && 'task' in cause ? cause.task : undefined);
  await journalReputation(trx, {
    provider: address,
    kind: outcome,
    at,
    ...(cause ? { cause } : {}),
    ...(task ? { taskId: task as Hex } : {}),
  });
  // A provider proven faulty: every canary seeded from a verdict it agreed with is re-verified.
  if (outcome === 'fault') await reviewCanariesOf(trx, address, d.now());
}

/**
 * Appends one change of a provider's reputation to the journal validators replay (migration 0026,
 * docs/validators.md "Audit rates and reputation"), in the transaction that stores the change.
 *
 * @example
 * await journalReputation(trx, { provider, kind: 'fault', at: now });
 */
export async function journalReputation(
  trx: Transaction<Database>,
  e: Pick<ReputationEntry, 'provider' | 'kind' | 'at' | 'before' | 'faultAt' | 'cause' | 'review' | 'taskId'>,
): Promise<void> {
  // A reinstatement's review travels with it (evidence version 7: validators re-derive it).
  const detail =
    e.kind === 'reinstate'
      ? JSON.stringify({
          before: e.before ?? null,
          faultAt: e.faultAt,
          ...(e.review ? { review: e.review } : {}),
        })
      : null;
  await trx
    .insertInto('reputation_journal')
    .values({
      provider: e.provider.toLowerCase(),
      kind: e.kind,
      at: e.at,
      detail,
      cause: e.cause ? JSON.stringify(e.cause) : null,
      task_id: e.taskId?.toLowerCase() ?? null,
    })
    .execute();
}

/**
 * A provider's reputation to update: the loop's copy, else the stored one, else a newcomer's. On a
 * shared store (replicas) always the stored one, its row locked until the transaction ends: another
 * replica may have updated it since this process cached it, and a read-modify-write from the stale
 * copy would overwrite that update (docs/scaling.md, "Reputations").
 *
 * @example
 * const rep = await currentReputation(state, deps, trx, provider);
 */
export async function currentReputation(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  provider: string,
): Promise<ReputationState> {
  const address = provider.toLowerCase();
  const cached = d.shared ? undefined : s.reputations.get(address);
  if (cached) return cached;
  const row = await storedReputation(trx, address, d.shared === true);
  return row?.reputation ? parseReputation(JSON.parse(row.reputation)) : newReputation(d.now());
}

/**
 * Records a proven fault outside a job's verdict (a wrong capability proof, a failed canary):
 * the fault with its evidence, a slash entry, the reputation change and a `provider.faulted` event.
 *
 * @example
 * await recordFault(state, deps, trx, { provider, taskId, jobId: null, kind: 'canary', evidence });
 */
export async function recordFault(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  f: { provider: string; taskId: string; jobId: string | null; kind: FaultKind; evidence: unknown },
): Promise<void> {
  const t = d.now();
  const provider = f.provider.toLowerCase();
  await insertFault(trx, {
    task_id: f.taskId,
    job_id: f.jobId ?? '',
    provider,
    kind: f.kind,
    evidence: JSON.stringify(f.evidence),
    created_at: t,
  });
  await insertSlash(trx, {
    task_id: f.taskId,
    provider,
    amount: s.slashable.toString(),
    evidence: JSON.stringify(f.evidence),
    created_at: t,
  });
  await addTaskFailed(trx, provider);
  await recordOutcome(s, d, trx, provider, 'fault', undefined, f.taskId);
  // A canary's miss, or its withdrawn commitment (canaryFailures.ts): about a canary task.
  const aboutCanary = f.jobId === null && (f.kind === 'canary' || f.kind === 'bad-reveal');
  const shadowJob = aboutCanary ? await shadowJobOfCanaryTask(trx, f.taskId) : undefined;
  if (shadowJob) {
    // A canary's fault is published as a verdict's fault on its shadow job (verdicts.ts): on the
    // job's own stream, never the network's, kind `outvoted`. On the network stream with kind
    // `canary` and no job it told everyone that the task was a canary, and so what its shadow job
    // looked like. The stored fault keeps its kind for validators (published at the epoch's close).
    const e = f.evidence as Partial<Record<'faultyDigest' | 'acceptedDigest' | 'agreeing', unknown>>;
    await d.events.append(trx, shadowJob, 'provider.faulted', {
      provider,
      taskId: f.taskId,
      kind: publicFaultKind(f.kind),
      faultyDigest: e.faultyDigest ?? null,
      acceptedDigest: e.acceptedDigest ?? null,
      agreeing: e.agreeing ?? [],
      slashed: s.slashable.toString(),
    });
  } else
    await d.events.append(trx, null, 'provider.faulted', {
      provider,
      taskId: f.taskId,
      kind: f.kind,
      slashed: s.slashable.toString(),
    });
  // Its unchecked outputs of running jobs are run again (recheckCaught.ts).
  await reopenAfterFault(s, d, trx, provider, { jobId: f.jobId, taskId: f.taskId });
}
