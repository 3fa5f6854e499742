/**
 * Dispatch: queued tasks onto free provider slots. `dispatch` coalesces concurrent calls into one
 * run; `runDispatch` pages through the queue in order; `leaseOne` leases one execution of a task
 * (a plain lease, or the replica, auditor or tie-breaker its verification asks for), sometimes
 * giving the slot to a canary instead; `pickFor` chooses the provider.
 */
import { randomInt } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import { boundLeaseId, taskRefOf } from '../../protocol/taskRef.ts';
import type { TaskRequirements } from '../scheduler/types.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { isSuspended, isTrusted, reputationScore } from '../verification/reputation.ts';
import { type ExecutionRole, TaskVerification } from '../verification/taskVerification.ts';
import { injectCanary } from './canaries.ts';
import { inlineInput } from './inlineInput.ts';
import { jobInfo } from './jobs.ts';
import { kinOf } from './kinship.ts';
import { executorsOfTask, markAssigned, providersOfTask, startJob } from './leaseQueries.ts';
import { initFor, loadVerification, lockedVerification, saveVerification } from './openVerifications.ts';
import { isAnnouncedRole } from './publicExecution.ts';
import { randomHex32 } from './randomHex.ts';
import { recordRenderAuditRegion, renderAuditRegionFor } from './renderAudits.ts';
import { cannotRun, couldRun, placementKey } from './renderEligibility.ts';
import { injectReviewLease } from './reviewLeases.ts';
import { invalidateStake, lockAmount, lockFor, lockStake, reserveStake, stakeShort } from './stakeLocks.ts';
import { leaseSizeCap, taskEconomics } from './taskEconomics.ts';
import { waiveAudit } from './verdicts.ts';
import {
  anotherProviderOnline,
  type JobInfo,
  reputationOf,
  send,
  type WorkDeps,
  type WorkState,
} from './workState.ts';

/** Thrown inside a lease transaction to roll it back: another replica got there first. */
class LeaseLost extends Error {}

/** Queued tasks read per page while dispatching (the first page of a run: FIRST_DISPATCH_PAGE). */
const DISPATCH_PAGE = 256;
const FIRST_DISPATCH_PAGE = 16;

/**
 * Assigns queued tasks to free providers. Safe to call often: a call during a run makes that run
 * go round once more instead of starting another, and resolves when it ends. Errors are logged.
 *
 * @example
 * await dispatch(state, deps);
 */
export async function dispatch(s: WorkState, d: WorkDeps): Promise<void> {
  if (s.dispatching) {
    s.again = true;
    return s.dispatching;
  }
  s.dispatching = (async () => {
    try {
      do {
        s.again = false;
        await runDispatch(s, d);
      } while (s.again);
    } catch (err) {
      d.log.error({ err }, 'dispatch failed');
    } finally {
      s.dispatching = undefined;
    }
  })();
  return s.dispatching;
}

/**
 * One pass over the queue, in queue order, until no slot is free or the queue ends.
 *
 * @example
 * await runDispatch(state, deps); // prefer dispatch(), which coalesces runs
 */
export async function runDispatch(s: WorkState, d: WorkDeps): Promise<void> {
  // Leases whose transactions are queued (leaseOne's `pipeline`): all settled before the run ends,
  // so a run that starts after it reads the queue with every one of them committed.
  const pipeline: Promise<void>[] = [];
  const paged = await dispatchPages(s, d, pipeline).then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  const settled = await Promise.allSettled(pipeline);
  const failed = paged ?? settled.find((r) => r.status === 'rejected');
  if (failed) throw 'err' in failed ? failed.err : failed.reason;
}

async function dispatchPages(s: WorkState, d: WorkDeps, pipeline: Promise<void>[]): Promise<void> {
  const { scheduler } = d;
  let afterQueuedAt = -1;
  let afterId = '';
  for (let page = 0; page < 40 && scheduler.freeSlots() > 0; page++) {
    // Usually a slot or two just came free: the first page is short, so a long queue is not
    // read (and thrown away) after every result. Later pages are full.
    const limit = page === 0 ? FIRST_DISPATCH_PAGE : DISPATCH_PAGE;
    const tasks = await d.stmt.all(d.db, d.q.queuedPage, { after: afterQueuedAt, afterId, limit });
    if (tasks.length === 0) return;
    for (const task of tasks) {
      afterQueuedAt = task.queued_at;
      afterId = task.id;
      if (scheduler.freeSlots() === 0) return;
      const job = await jobInfo(s, d, task.job_id);
      if (!job) continue;
      // A client whose escrow no longer covers its jobs starts no new task; executions of tasks
      // already started (audits, replicas, retries) go on, so their verdicts and bills land.
      if (task.attempts === 0 && d.market?.clientHeld(job.client)) continue;
      // A verified task may need several executions at once (replicas, tie-breakers).
      let attempts = task.attempts;
      for (;;) {
        if (scheduler.freeSlots() === 0) return;
        const r = await leaseOne(s, d, { ...task, attempts }, job, pipeline);
        if (!r.leased || !r.more) break;
        attempts++;
      }
    }
    // A short page was the end of the queue (tasks queued since then bring a dispatch of their own).
    if (tasks.length < limit) return;
  }
}

/**
 * Leases one execution of a queued task. Without verification state (primary of an `audit` or
 * `none` job) this is a plain lease; for a task whose TaskVerification asks for executions
 * (replicas, an auditor, tie-breakers) it assigns one of those to a provider not yet involved,
 * trusted ones first where the round asks for them. `more`: the task still wants executions.
 *
 * @example
 * const { leased, more } = await leaseOne(state, deps, task, job);
 */
export async function leaseOne(
  s: WorkState,
  d: WorkDeps,
  task: { id: string; job_id: string; input_cid: string; attempts: number },
  job: JobInfo,
  /**
   * Pipelined (a dispatch run on a store no other replica shares): the lease's transaction is
   * queued on the shared group commit (`d.commits`) instead of awaited, its completion (the
   * assignment sent, or the slot given back) pushed here for the run to await before it ends, and
   * `leased` is what the lease will be unless its conditional update then finds the task changed.
   */
  pipeline?: Promise<void>[],
): Promise<{ leased: boolean; more: boolean }> {
  const { db, events, q, stmt, scheduler } = d;
  const policy = policyOfSpec(job.spec);
  // A task never leased has no verification yet (one starts with its first lease, commitment
  // or result): nothing to look up.
  let tv = task.attempts === 0 ? undefined : await loadVerification(s, d, task.id);
  let role: ExecutionRole = 'primary';
  let trustedOnly = false;
  let involved: string[] = [];
  let fresh = false;
  let preferTrusted = false;
  let groundTruth = false;
  if (tv) {
    const req = tv.pending()[0];
    if (!req) {
      // Nothing to assign: every execution is out; the task waits for results.
      await markAssigned(db, task.id);
      return { leased: false, more: false };
    }
    role = req.role;
    trustedOnly = req.trustedOnly;
    groundTruth = req.groundTruth === true;
    involved = req.exclude;
    // Every redundant round gets a trusted member, drawn at random, while any is online: k
    // untrusted replicas agreeing prove nothing (they may be one ring).
    preferTrusted = role === 'replica' && !involved.some((a) => isTrusted(reputationOf(s, d.now, a)));
    if (role === 'auditor' && !anotherProviderOnline(s, involved)) {
      await waiveAudit(s, d, task.id, task.job_id, tv);
      return { leased: false, more: false };
    }
  } else if (policy.kind === 'redundant') {
    tv = new TaskVerification(initFor(s, task.id, policy, false));
    role = 'replica';
    fresh = true;
    preferTrusted = true;
  }
  const failedBefore = task.attempts > 0 ? (await providersOfTask(db, task.id)).map((a) => a.provider) : [];
  // A reopened task (its provider was proven faulty: recheckCaught.ts) has outputs from an earlier
  // verification: whoever delivered one never runs it again, whatever its standing now.
  const deliveredBefore = task.attempts > 0 ? await executorsOfTask(db, task.id) : [];
  const req: TaskRequirements = {
    model: placementKey(job.spec, task.input_cid),
    minMemoryMiB: job.spec.resources.minMemoryMiB,
    gpu: job.spec.resources.gpu,
  };
  // Only providers active on chain whose floor is within the client's cap (docs/market.md).
  const tooDear = d.market?.ineligible(job.maxPrice, job.spec.resources.gpu) ?? new Set<string>();
  // GPU work only for providers whose latest capability proof showed the GPU they claim.
  if (job.spec.resources.gpu) for (const a of s.links.keys()) if (!d.proofs.gpuTrusted(a)) tooDear.add(a);
  for (const a of cannotRun(s, job.spec)) tooDear.add(a);
  // A provider caught cheating (isSuspended) gets no work at all, canaries included.
  for (const a of s.links.keys()) if (isSuspended(reputationOf(s, d.now, a))) tooDear.add(a);
  // Stake locked per lease: only a provider whose free stake covers k × the task's pay (stakeLocks.ts).
  const lock = lockAmount((await taskEconomics(s, d, db, { ...job, id: task.job_id })).reward);
  // The most this execution may bill, from the job's verified task size now (null: no cap).
  const sizeCap = d.market ? await leaseSizeCap(s, d, db, { ...job, id: task.job_id }) : undefined;
  for (const a of await stakeShort(s, d, lock)) tooDear.add(a);
  // Collusion-aware: never a network or funder kin of a provider already executing this task, a
  // registration-burst kin only when nobody else can take it (kinship.ts).
  const kin = kinOf(s, involved);
  const provider = pickFor(s, d, req, {
    // Prefer a provider that has not tried this task; if there is none, any provider will do,
    // except that one provider never executes the same verified task twice.
    preferredExclude: new Set([
      ...failedBefore,
      ...involved,
      ...s.draining,
      ...tooDear,
      ...kin.network,
      ...kin.funder,
      ...kin.burst,
    ]),
    requiredExclude: new Set([
      ...involved,
      ...deliveredBefore,
      ...s.draining,
      ...tooDear,
      ...kin.network,
      ...kin.funder,
    ]),
    trustedOnly,
    preferTrusted,
    groundTruth,
  });
  if (!provider) return { leased: false, more: false };
  const started = performance.now();
  // Bound to its task (0066): the provider sees only the id, the salt waits for the evidence.
  const leaseSalt = randomHex32();
  const assignmentId = boundLeaseId(task.id, provider, leaseSalt);
  // Sometimes the slot carries a canary instead; the task stays queued for the next free slot.
  // A provider drawn for the check of a caught provider's frame or training update takes it first
  // (reviewLeases.ts).
  if (
    (role === 'primary' || role === 'replica') &&
    ((await injectReviewLease(s, d, provider)) || (await injectCanary(s, d, provider, assignmentId)))
  ) {
    return { leased: false, more: false };
  }
  // A render audit renders a small region of the task only (renderAudits.ts).
  const region =
    role === 'auditor' && job.spec.kind === 'blender.render'
      ? await renderAuditRegionFor(s, d, task, tv?.revealedOutputs()).catch((err: unknown) => {
          scheduler.release(provider); // the slot pickFor reserved
          throw err;
        })
      : undefined;
  const t = d.now();
  let more = false;
  // Whether it is trusted now goes into the machine: a trusted dissent outweighs a head count.
  const trustedNow = isTrusted(reputationOf(s, d.now, provider));
  if (tv) {
    tv.assign(provider as Hex, role, trustedNow);
    more = tv.pending().length > 0;
  }
  // A fresh machine is visible at once: a second execution of the same task leased in this run
  // (before this one committed) must find it. Forgotten again if the lease does not hold.
  if (tv && fresh) s.verifications.set(task.id, tv);
  const pipelined = pipeline !== undefined && !d.shared;
  const lease = async (trx: Transaction<Database>): Promise<boolean> => {
    // Queued, it may run after its provider disconnected (whose leases were then shortened to a
    // grace this one would miss): the task stays queued for another.
    if (pipelined && !s.links.has(provider)) return false;
    const updated = await stmt.run(trx, q.leaseTask, {
      id: task.id,
      status: more ? 'queued' : 'assigned',
      attempts: task.attempts + 1,
      prev: task.attempts,
      at: t,
    });
    if (updated === 0n) return false;
    if (tv && !fresh && d.shared) {
      // Replicas: the row is locked now; assign on the verification as the store has it (a
      // result handled by another replica since it was read), if it still asks for this.
      const stored = await lockedVerification(s, d, trx, task.id);
      const wanted = stored?.pending()[0];
      if (!stored || !wanted || wanted.role !== role || wanted.exclude.includes(provider as Hex))
        throw new LeaseLost();
      stored.assign(provider as Hex, role, trustedNow);
      tv = stored;
      if (stored.pending().length > 0 !== more) {
        more = !more;
        await trx
          .updateTable('tasks')
          .set({ status: more ? 'queued' : 'assigned' })
          .where('id', '=', task.id)
          .execute();
      }
    }
    await stmt.run(trx, q.insertAssignment, {
      id: assignmentId,
      taskId: task.id,
      jobId: task.job_id,
      provider,
      expiresAt: t + job.spec.taskTimeoutSec * 1000,
      at: t,
      // Billed in the class it is leased in, whatever the provider claims later (market.leaseClass).
      leaseClass: d.market?.leaseClass(provider, job.spec.resources.gpu) ?? null,
      sizeCap: sizeCap?.toString() ?? null,
      salt: leaseSalt,
    });
    await lockStake(s, d, trx, {
      assignmentId,
      provider,
      taskId: task.id,
      jobId: task.job_id,
      amount: lockFor(s, d, provider, lock),
      at: t,
    });
    if (tv) await saveVerification(d, trx, tv, task.job_id, policy, false);
    if (region) await recordRenderAuditRegion(trx, assignmentId, task.id, region, t);
    // A job's status never returns to queued: once this process saw it leave, nothing to do.
    if (job.status === 'queued') {
      const jobUpdated = await startJob(trx, task.job_id, t);
      if (jobUpdated.numUpdatedRows > 0n) {
        job.status = 'running';
        await events.append(trx, task.job_id, 'job.running', {});
      } else {
        // Another replica started it first: this process's copy must not stay 'queued' (a
        // failed attempt would then fail the job, leases.ts). Read again when next needed.
        s.jobCache.delete(task.job_id);
      }
    }
    // Neither the provider nor the role, and nothing at all for an auditor or a tie-breaker:
    // events are public, and they would tell a provider its co-executors and a primary whether
    // an auditor came (secret until the verdict, which names them; publicExecution.ts). No
    // attempt number either: it counts those hidden leases too.
    if (isAnnouncedRole(role)) await events.append(trx, task.job_id, 'task.assigned', { taskId: task.id });
    return true;
  };
  /** After the transaction: the assignment sent, or (not leased) the slot given back. */
  const settle = async (committed: Promise<boolean>): Promise<boolean> => {
    let leased = false;
    try {
      leased = await committed;
    } catch (err) {
      // Rolled back (the attempt count too): another replica changed the task first.
      if (!(err instanceof LeaseLost)) throw err;
    } finally {
      // The in-memory machine already took the assignment: if the store did not, rebuild it.
      if (!leased && tv) s.verifications.delete(task.id);
      // Nor keep a lock counted that did not commit (lockStake adds it to the cached tally).
      if (!leased) invalidateStake(s, provider);
    }
    if (!leased) {
      d.metrics.leasesLost.inc();
      scheduler.release(provider);
      return false;
    }
    await sendAssignment(s, d, { provider, assignmentId, task, job, region, started });
    return true;
  };
  if (pipelined) {
    // One commit for the leases of this run and the results queued beside them (groupCommit.ts).
    // Its lock counts against the provider's free stake from now, not from the commit.
    const unreserve = reserveStake(s, provider, lockFor(s, d, provider, lock));
    const done = settle(d.commits.run(lease).finally(unreserve)).then(() => {});
    done.catch(() => {}); // rejected before the run awaits it is not an unhandled rejection
    pipeline.push(done);
    return { leased: true, more };
  }
  if (!(await settle(db.transaction().execute(lease)))) return { leased: false, more: false };
  return { leased: true, more };
}

/** A committed lease: its job's streams woken and the assignment sent to its provider. */
async function sendAssignment(
  s: WorkState,
  d: WorkDeps,
  a: {
    provider: string;
    assignmentId: Hex;
    task: { id: string; job_id: string; input_cid: string };
    job: JobInfo;
    region: Awaited<ReturnType<typeof renderAuditRegionFor>> | undefined;
    started: number;
  },
): Promise<void> {
  const { task, job, provider, assignmentId, region } = a;
  d.events.notify(task.job_id);
  const inputBytes = await inlineInput(d, task.input_cid);
  send(s, provider, {
    type: 'assign',
    assignmentId,
    // Protocol v3: the provider sees this assignment's opaque id only, never the task's or the
    // job's (co-executors of a task would recognise each other by them; src/protocol/taskRef.ts).
    taskId: taskRefOf(assignmentId),
    kind: job.spec.kind,
    model: job.spec.model,
    input: task.input_cid,
    gpu: job.spec.resources.gpu,
    timeoutMs: job.spec.taskTimeoutSec * 1000,
    ...(region ? { region: region.region } : {}),
    ...(inputBytes ? { inputBytes } : {}),
  });
  d.metrics.dispatchSeconds.observe((performance.now() - a.started) / 1000);
  d.metrics.assignments.inc();
}

/**
 * The connected providers as the trusted-only picks see them: those trusted, and all ranked by
 * reputation score (best first, ties in connection order). Built at most once per
 * LINK_VIEW_MAX_AGE_MS (or when the number of links changes), not for every pick: a pick runs for
 * every queued execution in every dispatch pass, and building it is O(fleet) (O(fleet log fleet)
 * sorted) — most of the coordinator's CPU with 500 providers and no trusted one (coordinator-load).
 * Any reputation change (the scheduler's `refreshes` moves) or link count change rebuilds it; a
 * provider demoted since is still checked at use.
 */
type LinkView = { at: number; size: number; refreshes: number; trusted: string[]; byScore: string[] };
const linkViews = new WeakMap<WorkState, LinkView>();
const LINK_VIEW_MAX_AGE_MS = 500;

function linkView(s: WorkState, d: WorkDeps): LinkView {
  // Age on the coordinator's own clock, so a replay with a virtual clock (the strategic harness)
  // sees the same views whatever the machine's speed. A frozen clock cannot change anyone's trust
  // by time passing; every other reputation change refreshes the provider in the scheduler
  // (faults.ts), which makes the view stale.
  const now = d.now();
  const refreshes =
    'refreshes' in d.scheduler && typeof d.scheduler.refreshes === 'number' ? d.scheduler.refreshes : -1;
  const known = linkViews.get(s);
  if (
    known &&
    known.size === s.links.size &&
    known.refreshes === refreshes &&
    refreshes >= 0 &&
    now >= known.at &&
    now - known.at < LINK_VIEW_MAX_AGE_MS
  ) {
    return known;
  }
  const scored = [...s.links.keys()].map((a) => {
    const r = reputationOf(s, d.now, a);
    return { a, trusted: isTrusted(r), score: reputationScore(r) };
  });
  const view = {
    at: now,
    size: s.links.size,
    refreshes,
    trusted: scored.filter((x) => x.trusted).map((x) => x.a),
    byScore: scored.sort((x, y) => y.score - x.score).map((x) => x.a),
  };
  linkViews.set(s, view);
  return view;
}

/** Random trusted candidates tried one by one before letting the scheduler pick among all trusted. */
const RANDOM_TRUSTED_TRIES = 8;

/**
 * Picks a provider and reserves a slot. Rounds that ask for trusted providers (auditors,
 * tie-breakers) get one when any trusted provider is eligible, drawn at random (so a ring cannot
 * predict which trusted provider checks it); when none is connected the coordinator falls back to
 * the best-scored eligible providers (docs/verification.md: genesis operators avoid that
 * fallback). `preferTrusted` (a redundant round with no trusted member yet): a random trusted
 * provider when one is eligible; nobody while eligible trusted providers are online but busy (the
 * round waits for a trusted slot); the scheduler's ordinary pick only when no trusted provider that
 * could run the task is online (no fallback ranking). `groundTruth` (a tie between untrusted
 * executions): a trusted provider or nobody — the task waits until one is online.
 *
 * @example
 * const provider = pickFor(state, deps, req, { preferredExclude: new Set(), requiredExclude: new Set(), trustedOnly: false });
 */
export function pickFor(
  s: WorkState,
  d: WorkDeps,
  req: TaskRequirements,
  opts: {
    preferredExclude: Set<string>;
    requiredExclude: Set<string>;
    trustedOnly: boolean;
    preferTrusted?: boolean;
    /** Only a provider trusted now, never the best-scored fallback (the round waits for one). */
    groundTruth?: boolean;
  },
): string | undefined {
  const { scheduler } = d;
  const rep = (a: string) => reputationOf(s, d.now, a);
  /**
   * `only` if the scheduler can place the task on it now (a slot is then reserved). Named with
   * `only` (looked up), not by excluding everyone else: that cost O(fleet) per try.
   */
  const pickOnly = (only: string, exclude: Set<string>) =>
    scheduler.pick({ ...req, exclude, only: new Set([only]) });
  const randomTrusted = (trusted: string[], exclude: Set<string>) => {
    const order = [...trusted];
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const candidate of order.slice(0, RANDOM_TRUSTED_TRIES)) {
      const p = pickOnly(candidate, exclude);
      if (p) return p;
    }
    return scheduler.pick({ ...req, exclude, only: new Set(trusted) });
  };
  const tryPick = (exclude: Set<string>): string | undefined => {
    if (!opts.trustedOnly && !opts.preferTrusted) return scheduler.pick({ ...req, exclude });
    const view = linkView(s, d);
    const trusted = view.trusted.filter((a) => !exclude.has(a) && s.links.has(a) && isTrusted(rep(a)));
    if (trusted.length > 0) {
      const p = randomTrusted(trusted, exclude);
      if (p || opts.trustedOnly) return p;
      // A redundant round with no trusted member yet waits for a trusted slot while an eligible
      // trusted provider is online (its busy slots come free), rather than seating k untrusted
      // replicas: two of a ring then outvote, fault and slash the honest third (issue 15, the
      // strategic harness's honest fault under load: the trusted slots were all busy).
      if (trusted.some((a) => couldRun(s, a, req))) return undefined;
    }
    if (!opts.trustedOnly) return scheduler.pick({ ...req, exclude });
    // Ground truth between untrusted executions that disagree: only a trusted provider will do.
    if (opts.groundTruth) return undefined;
    // No trusted provider: the best-scored few, in order.
    let tried = 0;
    for (const candidate of view.byScore) {
      if (exclude.has(candidate) || !s.links.has(candidate)) continue;
      const p = pickOnly(candidate, exclude);
      if (p) return p;
      if (++tried === 8) break;
    }
    return undefined;
  };
  const sameSets =
    opts.preferredExclude.size === opts.requiredExclude.size &&
    [...opts.preferredExclude].every((a) => opts.requiredExclude.has(a));
  return tryPick(opts.preferredExclude) ?? (sameSets ? undefined : tryPick(opts.requiredExclude));
}
