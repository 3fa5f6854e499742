/**
 * Canaries in live work (docs/verification.md): tasks two providers agreed on (one of them already
 * trusted) become known-answer
 * tasks (`seedCanary`); now and then a provider's free slot gets one instead of a queued task,
 * indistinguishable on the wire (`injectCanary`); its result is judged against the known answer
 * (`handleCanaryResult`), and a lease that runs out is a timeout, never a fault
 * (`expireCanaries`). Canaries never touch a job, a client's escrow or a provider's earnings.
 */
import { randomBytes } from 'node:crypto';
import type { Selectable, Transaction } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { computeCommitment, verifyReveal } from '../../protocol/commitment.ts';
import { hashUnit } from '../../protocol/rng.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { ProviderResult } from '../../protocol/schemas.ts';
import { boundLeaseId, taskRefOf } from '../../protocol/taskRef.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { insertShadowJob } from '../jobs/shadowJobs.ts';
import { appendShadowCompletion, countShadowCompletion } from '../jobs/shadowOutcomes.ts';
import type { ReviewCheckBasis } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';
import { epochSeed } from '../verification/auditSeeds.ts';
import { CANARY_REVIEW_MIN_RECORD } from '../verification/constants.ts';
import { onProbation } from '../verification/reputation.ts';
import { TaskVerification, type Verdict } from '../verification/taskVerification.ts';
import { assertLeasedTo } from './assignments.ts';
import { eligibleCanary } from './canaryCandidates.ts';
import {
  canaryById,
  commitmentOfAssignment,
  countCanaryIssue,
  expireCanaryLease,
  finishCanaryLease,
  insertCanaryLease,
  leasedCanaries,
  liveCanaryCount,
  setCanaryRepBefore,
} from './canaryQueries.ts';
import { openCanaryReview, reopenReviewCheck, reviewOfCheck, reviewStateOf } from './canaryReviewQueries.ts';
import { settleReviewCheck } from './canaryReviews.ts';
import { currentReputation, recordFault, recordOutcome } from './faults.ts';
import { inlineInput } from './inlineInput.ts';
import { storeKnownAnswer } from './knownAnswers.ts';
import { addTaskFailed } from './leaseQueries.ts';
import { initFor } from './openVerifications.ts';
import { drawnReview } from './reviewCheckers.ts';
import { claimStocked } from './shadowStock.ts';
import { canaryTimeoutCause } from './timeoutCause.ts';
import { reputationOf, send, type WorkDeps, type WorkState } from './workState.ts';

/**
 * A task that two or more providers agreed on, at least one of them already trusted
 * (`trustedBefore`: trusted before this verdict was credited), becomes a known-answer canary (its
 * model, input and the agreed output), unless the pool is full. Stored, so a restart keeps the
 * pool. Agreement among untrusted providers alone never seeds one: two colluding replicas would
 * otherwise plant a wrong answer that then faults every honest provider it is issued to.
 *
 * @example
 * if (verdict.verified) await seedCanary(state, deps, trx, jobId, taskId, verdict, outputCid, trustedBefore);
 */
export async function seedCanary(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  taskId: string,
  verdict: Verdict,
  outputCid: string,
  trustedBefore: ReadonlySet<string>,
): Promise<void> {
  if (s.canaryRate <= 0 || verdict.acceptedDigest === undefined) return;
  const agreeing = verdict.outcomes.filter((o) => o.outcome === 'valid');
  if (agreeing.length < 2) return;
  if (!agreeing.some((o) => trustedBefore.has(o.provider.toLowerCase()))) return;
  const live = Number((await liveCanaryCount(trx)).n);
  if (live >= s.canaryPoolSize) return;
  await storeKnownAnswer(s, d, trx, {
    jobId,
    taskId,
    verdict,
    outputCid,
    vouchers: agreeing.map((o) => o.provider),
    reviewOnly: false,
  });
}

/** Epoch seeds read by this work loop (the last few epochs'), per state. */
const seedCaches = new WeakMap<WorkState, Map<number, string>>();

/**
 * The epoch's committed seed (auditSeeds.ts), read once per epoch: a stored seed never changes
 * (the first one written wins, on any replica) and this read is outside any transaction, so what
 * it returns is committed. Every lease draws with it; the store was asked twice per lease before.
 */
async function storedEpochSeed(s: WorkState, d: WorkDeps, epoch: number): Promise<string> {
  let cache = seedCaches.get(s);
  if (!cache) {
    cache = new Map();
    seedCaches.set(s, cache);
  }
  const known = cache.get(epoch);
  if (known !== undefined) return known;
  const seed = await epochSeed(d.db, epoch);
  cache.set(epoch, seed);
  if (cache.size > 4) cache.delete(cache.keys().next().value!);
  return seed;
}

/**
 * With probability `canaryRate` (a seeded draw per provider and slot, unpredictable without the
 * coordinator's secret), the slot just reserved on `provider` goes to a known-answer task it has
 * not seen instead, under a fresh task id and with the job id of the job it came from: nothing on
 * the wire tells it apart. True when a canary took the slot.
 *
 * @example
 * if (await injectCanary(state, deps, provider, assignmentId)) return; // the slot is used
 */
export async function injectCanary(
  s: WorkState,
  d: WorkDeps,
  provider: string,
  slot: string,
): Promise<boolean> {
  if (s.canaryRate <= 0) return false;
  try {
    // A trusted provider's slot first goes to any canary review waiting for an independent check.
    // (reviewCheckers.ts: a seeded draw among eligible trusted providers online on any replica).
    const review = await drawnReview(s, d, provider);
    if (review && (await issueCanary(s, d, provider, review, review.review_id, undefined, review.drawn))) {
      return true;
    }
    // Probation: a provider with no verified result yet (a newcomer, or one whose record a fault
    // wiped) gets a canary in every slot while the pool has one it has not seen, so its first
    // work is checkable at no client's risk; everyone else at the canary rate.
    const rate = onProbation(reputationOf(s, d.now, provider)) ? 1 : s.canaryRate;
    // With a market (epochs) the draw uses the epoch's committed seed and goes with the lease, so
    // validators recompute it once the seed is revealed (verification/auditSeeds.ts).
    const epoch = d.market ? await d.market.currentEpoch(d.db) : undefined;
    const seed = epoch === undefined ? s.econ.seed : await storedEpochSeed(s, d, epoch);
    const draw = hashUnit(seed, 'canary', provider.toLowerCase(), slot);
    if (draw >= rate) return false;
    // A stocked shadow job first (shadowStock.ts: listed queued since its submission), else an
    // unseen canary; one a kin of the provider sourced (review s13 F4) is passed over for the
    // next (F3, canaryCandidates.ts). None eligible left: the slot goes to real work, on probation
    // too (docs/verification.md "Probation").
    const pick = await eligibleCanary(s, d, provider);
    if (!pick) return false;
    const { canary, pendingId } = pick;
    await issueCanary(
      s,
      d,
      provider,
      canary,
      undefined,
      epoch === undefined ? undefined : { epoch, slot, rate, draw },
      undefined,
      pendingId,
    );
    return true;
  } catch (err) {
    d.log.error({ err, provider }, 'canary injection failed');
    return false;
  }
}

/**
 * Leases `canary` to `provider` under a fresh task id and the id of a fresh shadow job
 * (jobs/shadowJobs.ts), and sends the `assign`. A review's check (`reviewId`) does not count as an issue; its lease keeps
 * the epoch of its seeded draw (`checkDraw`: the seed stays secret while it is out) and is issued
 * only while the review has no check out (false otherwise: another replica's draw took it).
 */
async function issueCanary(
  s: WorkState,
  d: WorkDeps,
  provider: string,
  canary: Selectable<Database['canary_tasks']>,
  reviewId?: string,
  drawn?: { epoch: number; slot: string; rate: number; draw: number },
  checkDraw?: { epoch: number | null; draw: number; basis?: ReviewCheckBasis },
  pendingId?: string,
): Promise<boolean> {
  {
    const started = performance.now();
    const taskId = `0x${randomBytes(32).toString('hex')}` as Hex;
    // Bound to its task like any lease (0066): the salt is published only in the evidence.
    const leaseSalt = `0x${randomBytes(32).toString('hex')}` as Hex;
    const id = boundLeaseId(taskId, provider, leaseSalt);
    const t = d.now();
    let jobId = '';
    let fresh = true;
    const issued = await d.db
      .transaction()
      .execute(async (trx) => {
        await insertCanaryLease(trx, {
          id,
          task_id: taskId,
          canary_id: canary.id,
          provider,
          status: 'leased',
          lease_expires_at: t + canary.timeout_ms,
          output_cid: null,
          created_at: t,
          finished_at: null,
          lease_salt: leaseSalt,
          ...(drawn
            ? {
                draw_epoch: drawn.epoch,
                slot: drawn.slot,
                rate: JSON.stringify(drawn.rate),
                draw: JSON.stringify(drawn.draw),
              }
            : {}),
          ...(checkDraw?.epoch != null ? { draw_epoch: checkDraw.epoch } : {}),
        });
        // Its own job, like any client's: the source job's id (a finished job whose task list
        // lacks this task id) told an API-reading provider it held a canary.
        // A stocked one when it fits (shadowStock.ts), else one made now (its submission drawn
        // from recent real waits).
        const claimed = pendingId === undefined ? undefined : await claimStocked(trx, pendingId, id);
        fresh = claimed === undefined;
        jobId =
          claimed ??
          (await insertShadowJob(trx, {
            leaseId: id,
            sourceJobId: canary.source_job_id,
            model: canary.model,
            at: t,
          }));
        // The events a real job's first lease appends: the public event ids count every event,
        // and a lease that added none was a gap a provider could watch for.
        await d.events.append(trx, jobId, 'job.running', {});
        await d.events.append(trx, jobId, 'task.assigned', { taskId });
        if (reviewId === undefined) {
          await countCanaryIssue(trx, canary.id, canary.issued + 1 >= s.canaryMaxIssues ? 1 : 0);
          return true;
        }
        if (checkDraw?.basis)
          await trx
            .insertInto('review_check_bases')
            .values({ lease_id: id, body: JSON.stringify({ ...checkDraw.basis, at: t }) })
            .execute();
        const took = await trx
          .updateTable('canary_reviews')
          .set({ check_lease_id: id })
          .where('id', '=', reviewId)
          .where('check_lease_id', 'is', null)
          .where('status', '=', 'open')
          .executeTakeFirst();
        if (took.numUpdatedRows === 0n) throw new ReviewTaken();
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof ReviewTaken) return false;
        throw err;
      });
    if (!issued) return false;
    d.events.notify(jobId);
    // A job made at its lease appears now, so it is counted as submitted now (a stocked one was
    // counted when it was stocked): a lease whose job was never counted was a tell on /metrics.
    if (fresh) d.metrics.jobsSubmitted.inc();
    d.metrics.assignments.inc();
    // The same shape as real work's assignment (dispatch.ts), its tiny input inside too.
    const inputBytes = await inlineInput(d, canary.input_cid);
    send(s, provider, {
      type: 'assign',
      assignmentId: id,
      taskId: taskRefOf(id),
      kind: 'onnx.infer',
      model: canary.model,
      input: canary.input_cid,
      gpu: canary.gpu === 1,
      timeoutMs: canary.timeout_ms,
      ...(inputBytes ? { inputBytes } : {}),
    });
    // Timed as a real lease is (dispatch.ts): a lease /metrics counted without it was a canary.
    d.metrics.dispatchSeconds.observe((performance.now() - started) / 1000);
    return true;
  }
}

/** A review's check slot was taken meanwhile (another replica's draw): the lease is rolled back. */
class ReviewTaken extends Error {}

/**
 * A canary's result: compared with the known answer (tolerances as for any float output). A
 * match is a valid outcome; a miss is a fault with evidence and a slash entry. Neither touches a
 * job, the client's escrow or the provider's earnings.
 *
 * @example
 * if (canary) return handleCanaryResult(state, deps, address, msg, canary, tensors, outputDigest);
 */
export async function handleCanaryResult(
  s: WorkState,
  d: WorkDeps,
  address: string,
  msg: ProviderResult,
  canary: { id: string; task_id: string; canary_id: string; provider: string; status: string },
  tensors: TensorSet,
  outputDigest: Hex,
): Promise<void> {
  assertLeasedTo(canary, address, msg.assignmentId, msg.taskId);
  const signed = await commitmentOfAssignment(d.db, canary.id);
  const salt = (msg.salt as Hex | undefined) ?? (`0x${randomBytes(32).toString('hex')}` as Hex);
  if (signed && msg.salt === undefined) {
    throw new PlexusError('PLX_REVEAL_MISMATCH', 'this execution committed: reveal its digest and salt');
  }
  if (msg.salt !== undefined && !signed) {
    throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'no signed commitment for this execution');
  }
  const commitment =
    (signed?.commitment as Hex | undefined) ??
    computeCommitment({ taskId: taskRefOf(canary.id), provider: address as Hex, outputDigest, salt });
  if (
    !verifyReveal({
      taskId: taskRefOf(canary.id),
      provider: address as Hex,
      commitment,
      reveal: { outputDigest, salt },
    })
  ) {
    throw new PlexusError('PLX_REVEAL_MISMATCH', 'the reveal does not open the signed commitment');
  }
  const known = await canaryById(d.db, canary.canary_id);
  const expected = decodeSafetensors(await d.blobs.read(known.expected_cid));
  const tv = new TaskVerification({
    ...initFor(s, canary.task_id, { kind: 'none' }, false),
    canary: { expectedDigest: known.expected_digest as Hex, expected },
  });
  tv.assign(address as Hex, 'primary');
  tv.commit(address as Hex, commitment, taskRefOf(canary.id));
  tv.reveal(address as Hex, { outputDigest, salt, tensors });
  const verdict = tv.verdict();
  const passed = verdict?.status === 'accepted';
  const t = d.now();
  const review = await reviewOfCheck(d.db, canary.id);
  if (review) {
    // The independent trusted check of a doubtful canary: it resolves the review, judges nobody.
    await settleReviewCheck(s, d, {
      review,
      checker: address,
      leaseId: canary.id,
      outputCid: msg.outputCid,
      passed,
      tensors,
      // About the canary's task (signed over its opaque reference, the lease id: protocol v3).
      signed: { taskId: canary.task_id, usage: msg.usage, issuedAt: msg.issuedAt, signature: msg.signature },
    });
  } else {
    let shadowJob: string | undefined;
    await d.db.transaction().execute(async (trx) => {
      const before = await currentReputation(s, d, trx, address);
      // A miss by a provider with a long good record is held for a re-verification, not faulted;
      // any miss joins a review already open for the canary; a poisoned canary faults nobody; after
      // a record-miss review confirmed the answer, a miss is a fault (reviewed at most once, 0024).
      const reviewed = passed ? undefined : await reviewStateOf(trx, known.id);
      const hold =
        !passed &&
        (reviewed === 'open' ||
          reviewed === 'poisoned' ||
          (reviewed === undefined && before.consecutiveValid >= CANARY_REVIEW_MIN_RECORD));
      const status = passed ? 'passed' : hold ? 'review' : 'failed';
      const signedResult = { usage: msg.usage, issuedAt: msg.issuedAt, signature: msg.signature };
      const updated = await finishCanaryLease(trx, canary.id, status, msg.outputCid, t, signedResult);
      if (updated.numUpdatedRows === 0n) {
        throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} is no longer leased`);
      }
      // What an unaudited real primary's answer appends to its job, right or wrong (shadowOutcomes.ts).
      shadowJob = await appendShadowCompletion(trx, d.events, canary.id);
      // Counted in the provider's public `tasksCompleted` as a real task accepted unaudited is
      // (verdicts.ts), right or wrong; a miss faulted now counts `tasksFailed` (recordFault), as a
      // real task's fault does. Counted for real work only, it rose for everything but canaries.
      if (status !== 'failed') await d.stmt.run(trx, d.q.taskCompletedBy, { address });
      if (passed) await recordOutcome(s, d, trx, address, 'valid', undefined, canary.task_id);
      else {
        await setCanaryRepBefore(trx, canary.id, JSON.stringify(before));
        // What decided fault or hold, for validators to re-derive (0058, docs/validators.md "Canary holds").
        const row = { at: t, record: before.consecutiveValid, review: reviewed ?? null, held: hold ? 1 : 0 };
        await trx
          .insertInto('canary_holds')
          .values({ lease_id: canary.id, ...row })
          .execute();
      }
      for (const f of verdict?.faults ?? []) {
        // The provider's own signed result goes with the fault: the evidence validators check.
        const evidence = {
          ...f.evidence,
          // The task it is about (the provider signed over its opaque reference, the lease id).
          signedResult: {
            assignmentId: msg.assignmentId,
            taskId: canary.task_id,
            outputCid: msg.outputCid,
            usage: msg.usage,
            issuedAt: msg.issuedAt,
            signature: msg.signature,
          },
        };
        if (hold) {
          if (reviewed === 'poisoned') {
            // The known answer was found wrong: the miss is no fault (the lease is void).
            await trx
              .updateTable('canary_assignments')
              .set({ status: 'voided' })
              .where('id', '=', canary.id)
              .execute();
            continue;
          }
          if (reviewed !== 'open')
            await openCanaryReview(
              trx,
              {
                canaryId: known.id,
                reason: 'record-miss',
                leaseId: canary.id,
                provider: address,
                evidence,
              },
              t,
            );
          // No `canary.review-opened` network event: it followed the answer at once and told the
          // provider (and anyone it tells) that the task was a canary (shadowOutcomes.ts).
          continue;
        }
        await recordFault(s, d, trx, {
          provider: f.provider,
          taskId: canary.task_id,
          jobId: null,
          kind: 'canary',
          evidence,
        });
      }
    });
    if (shadowJob) d.events.notify(shadowJob);
  }
  d.log.info({ provider: address, canary: known.id, passed, review: review?.id }, 'canary checked');
  d.scheduler.release(address);
  // As a real unaudited task's accepted answer counts, right or wrong (a miss counted `failed`).
  countShadowCompletion(d.metrics);
  void d.dispatch();
}

/**
 * Canary leases that ran out (or that the provider forgot): a timeout, never a fault. With
 * `keep` (a reconnecting provider's in-flight ids) nothing is cancelled on the wire: the provider
 * already forgot them.
 *
 * @example
 * await expireCanaries(state, deps, { before: Date.now() });
 */
export async function expireCanaries(
  s: WorkState,
  d: WorkDeps,
  where: { provider?: string; keep?: Set<string>; before?: number },
): Promise<void> {
  let leased: { id: string; provider: string }[];
  if (!where.provider && where.before !== undefined) {
    // The sweep's question, every second: a template.
    leased = await d.stmt.all(d.db, d.q.expiredCanaries, { before: where.before });
  } else {
    leased = await leasedCanaries(d.db, where);
  }
  const rows = leased.filter((r) => !where.keep?.has(r.id));
  for (const r of rows) {
    const done = await d.db.transaction().execute(async (trx) => {
      const u = await expireCanaryLease(trx, r.id, d.now());
      if (u.numUpdatedRows === 0n) return false;
      await reopenReviewCheck(trx, r.id);
      await recordOutcome(s, d, trx, r.provider, 'timeout', await canaryTimeoutCause(trx, r.id));
      // A lost lease counts in `tasksFailed` as a real one does (leases.ts failAttempt).
      await addTaskFailed(trx, r.provider);
      // What a real primary's lost lease appends to its job (leases.ts): the ids advance alike.
      const shadow = await trx
        .selectFrom('shadow_jobs')
        .select('id')
        .where('lease_id', '=', r.id)
        .executeTakeFirst();
      if (shadow)
        await d.events.append(trx, shadow.id, 'task.retry', {
          taskId: (
            await trx
              .selectFrom('canary_assignments')
              .select('task_id')
              .where('id', '=', r.id)
              .executeTakeFirstOrThrow()
          ).task_id,
          code: 'PLX_LEASE_EXPIRED',
          message: 'lease expired',
        });
      return true;
    });
    if (done) d.metrics.tasksFinished.inc({ status: 'expired' });
    if (done && s.links.has(r.provider) && where.keep === undefined) {
      d.scheduler.release(r.provider);
      send(s, r.provider, { type: 'cancel', assignmentId: r.id as Hex, reason: 'lease expired' });
    }
  }
}
