/**
 * Results and commit–reveal: a provider's signed commitment to an output (`handleCommit`,
 * protocol v2) and its signed result (`handleResult`: the uploaded output, for v2 the reveal that
 * opens the commitment). A result is checked against its lease, stored as an execution, fed to the
 * task's verification machine, and settled when that reaches a verdict; providers whose round is
 * complete are told to reveal.
 */
import type { Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { computeCommitment, verifyReveal } from '../../protocol/commitment.ts';
import { INLINE_OUTPUT_MAX_BYTES } from '../../protocol/constants.ts';
import { verifyPlexusMessage } from '../../protocol/eip712.ts';
import { cidToBytes32 } from '../../protocol/ids.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { ProviderCommit, ProviderResult } from '../../protocol/schemas.ts';
import { taskRefOf } from '../../protocol/taskRef.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import type { CheckedBytes } from '../blobs/createBlobStore.ts';
import type { Database } from '../store/schema.ts';
import { invalidUpdate, trainLayoutOf } from '../training/updateCheck.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { completeLeased, leasedAssignment, openLeaseOf } from './assignments.ts';
import { handleCanaryResult } from './canaries.ts';
import { afterSettle, jobInfo } from './jobs.ts';
import { lockTaskRow, requeueAssigned } from './leaseQueries.ts';
import {
  loadVerification,
  lockedVerification,
  mayReveal,
  openVerification,
  releasableReveals,
  saveVerification,
} from './openVerifications.ts';
import { isAnnounced } from './publicExecution.ts';
import { randomHex32 } from './randomHex.ts';
import { checkRenderOutputRegion } from './renderAudits.ts';
import { handleReviewLeaseResult, reviewLeaseKind } from './reviewLeases.ts';
import { settleVerdict } from './verdicts.ts';
import { forgetVerification, type Settled, send, type WorkDeps, type WorkState } from './workState.ts';

/** Largest output file a provider may return for one task. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * A result's output bytes: sent inside the message (`unstored`: checked to hash to `outputCid`,
 * only after the signature and the lease were checked, and stored by the caller: with the result's
 * transaction, so with no commit of its own) or uploaded before it by this provider
 * (PLX_OUTPUT_NOT_UPLOADED otherwise, also when the blob exists: someone else's bytes).
 */
async function outputOf(
  d: WorkDeps,
  address: Address,
  msg: ProviderResult,
): Promise<{ bytes: Uint8Array; unstored?: CheckedBytes }> {
  if (msg.output !== undefined) {
    // Its own memory at offset 0 (not the pool's), so tensor views over it stay aligned.
    const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(msg.output, 'base64'));
    const n = bytes.write(msg.output, 'base64');
    if (n > INLINE_OUTPUT_MAX_BYTES)
      throw new PlexusError(
        'PLX_PAYLOAD_TOO_LARGE',
        `an output inside a result is at most ${INLINE_OUTPUT_MAX_BYTES} bytes`,
      );
    const out = new Uint8Array(bytes.buffer, 0, n);
    return { bytes: out, unstored: d.blobs.checkBytes(out, msg.outputCid) };
  }
  // Only bytes this provider uploaded (it holds them): a cid alone, another client's private output
  // or input say, would make that blob this task's output, readable by its client (review s10 F1).
  const provider = address.toLowerCase();
  const uploaded = await d.db
    .selectFrom('provider_uploads')
    .select('cid')
    .where('cid', '=', msg.outputCid)
    .where('provider', '=', provider)
    .unionAll(
      d.db
        .selectFrom('blob_uploads')
        .select('cid')
        .where('cid', '=', msg.outputCid)
        .where('account', '=', provider),
    )
    .limit(1)
    .executeTakeFirst();
  const size = uploaded ? await d.blobs.size(msg.outputCid) : undefined;
  if (size === undefined) {
    throw new PlexusError(
      'PLX_OUTPUT_NOT_UPLOADED',
      `output ${msg.outputCid} was not uploaded by ${provider}`,
      {
        details: { cid: msg.outputCid, provider },
      },
    );
  }
  if (size > MAX_OUTPUT_BYTES) throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', 'output is too large');
  return { bytes: await d.blobs.read(msg.outputCid) };
}

/**
 * Whether this assignment already committed; a different second commitment is refused
 * (PLX_VERIFICATION_DUPLICATE).
 *
 * @example
 * if (!(await priorCommitment(deps, trx, msg))) await store(trx, taskId);
 */
export async function priorCommitment(
  d: WorkDeps,
  trx: Transaction<Database>,
  msg: ProviderCommit,
): Promise<boolean> {
  const prior = await d.stmt.first(trx, d.q.commitmentOf, { assignmentId: msg.assignmentId });
  if (prior && prior.commitment !== msg.commitment) {
    throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'this execution already committed to another output');
  }
  return prior !== undefined; // the same commitment again (after a reconnect): answered idempotently
}

/**
 * A provider's signed result for one of its leases (a canary's goes to handleCanaryResult). The
 * signature and the lease are checked before the output blob is touched. The output must be uploaded, small enough and a well-formed tensor file; a v2 agent's reveal must
 * open its commitment, and only once its round may reveal. Refused with PLX_STALE_ASSIGNMENT
 * unless the lease is the sender's and still open.
 *
 * @example
 * await handleResult(state, deps, address, msg);
 */
export async function handleResult(
  s: WorkState,
  d: WorkDeps,
  address: Address,
  msg: ProviderResult,
): Promise<void> {
  const { db, events, q, stmt, scheduler } = d;
  await verifyPlexusMessage({
    chainId: d.chainId,
    primaryType: 'TaskResult',
    message: {
      provider: address,
      assignmentId: msg.assignmentId as Hex,
      taskId: msg.taskId as Hex,
      outputCid: cidToBytes32(msg.outputCid),
      wallMs: BigInt(msg.usage.wallMs),
      cpuMs: BigInt(msg.usage.cpuMs),
      peakRssBytes: BigInt(msg.usage.peakRssBytes),
      issuedAt: BigInt(msg.issuedAt),
    },
    signature: msg.signature,
    expectedSigner: address,
  });
  // The lease before the blob: refusing a result for a lease the sender does not hold costs one
  // query, whatever output it names (issue 16: forged results used to stall the loop on reads).
  const { task: before, canary } = await openLeaseOf(d, address, msg.assignmentId, msg.taskId);
  const output = await outputOf(d, address, msg);
  // A canary's output is stored at once (a canary result is not part of the group commit).
  if (canary && output.unstored) await d.blobs.putChecked(output.unstored);
  // The output must be a well-formed tensor file; garbage never reaches the client.
  const tensors = decodeSafetensors(output.bytes);
  const outputDigest = tensorSetDigest(tensors);
  const revealed = msg.outputDigest !== undefined && msg.salt !== undefined ? msg : undefined;
  if (revealed && revealed.outputDigest !== outputDigest) {
    throw new PlexusError('PLX_REVEAL_MISMATCH', 'the uploaded output does not hash to the revealed digest', {
      details: { revealed: revealed.outputDigest, uploaded: outputDigest },
    });
  }
  if (canary) {
    // A caught provider's frame or training update under review: its kind's rule (reviewLeases.ts).
    if (await reviewLeaseKind(d, canary.canary_id))
      await handleReviewLeaseResult(s, d, address, msg, canary, tensors, outputDigest);
    else await handleCanaryResult(s, d, address, msg, canary, tensors, outputDigest);
    return;
  }
  // v1 agents: the coordinator commits to the output on the agent's behalf (nobody sees an
  // output before the verdict). v2 agents signed their own commitment before this reveal.
  const salt = (revealed?.salt as Hex | undefined) ?? randomHex32();
  const job = before ? await jobInfo(s, d, before.job_id) : undefined;
  if (job?.spec.kind === 'blender.render')
    await checkRenderOutputRegion(db, d.blobs, msg.assignmentId, tensors);
  // A training update against its round's weights, before anything can bill it: a malformed one
  // is a fault in the verdict, a non-finite one is dropped unpaid (training/updateCheck.ts).
  const train =
    job?.spec.kind === 'train.diloco' && before
      ? await trainLayoutOf(db, d.blobs, before.task_id)
      : undefined;
  if (train) invalidUpdate(tensors, train);
  let existing = before ? await loadVerification(s, d, before.task_id) : undefined;
  const t = d.now();
  let settled: Settled | undefined;
  let jobId = '';
  let taskId = '';
  let release: { assignment_id: string; provider: string }[] = [];
  try {
    // Acknowledged (by the caller) only after this commits; on SQLite with others' results.
    await d.commits.run(async (trx) => {
      // Replicas: the task's row first, so a sweep elsewhere cannot expire this lease meanwhile.
      if (d.shared && before) await lockTaskRow(trx, before.task_id);
      // The lease read and completed in one statement (rolled back with the rest on a refusal).
      const a = await completeLeased(d, trx, address, msg.assignmentId, msg.taskId, t);
      jobId = a.job_id;
      taskId = a.task_id;
      if (!job || !before || before.task_id !== a.task_id) {
        throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} has no job`);
      }
      // Replicas: another may have changed this task's verification since it was read above.
      if (d.shared) existing = await lockedVerification(s, d, trx, a.task_id);
      const signed = await stmt.first(trx, q.commitmentOf, { assignmentId: a.id });
      if (signed && !revealed) {
        throw new PlexusError('PLX_REVEAL_MISMATCH', 'this execution committed: reveal its digest and salt');
      }
      if (revealed) {
        if (!signed) {
          throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'no signed commitment for this execution');
        }
        const opens = verifyReveal({
          taskId: taskRefOf(a.id),
          provider: address,
          commitment: signed.commitment as Hex,
          reveal: { outputDigest, salt },
        });
        if (!opens) {
          throw new PlexusError('PLX_REVEAL_MISMATCH', 'the reveal does not open the signed commitment', {
            details: { assignmentId: a.id },
          });
        }
        if (!existing || !mayReveal(existing, address)) {
          throw new PlexusError(
            'PLX_VERIFICATION_REVEAL_TOO_EARLY',
            'other providers of this round have not committed yet',
          );
        }
      }
      // The output sent inside the result, stored with it (the same savepoint: with the result or not at all).
      if (output.unstored) await d.blobs.putChecked(output.unstored, trx);
      const result = JSON.stringify({
        assignmentId: msg.assignmentId,
        usage: msg.usage,
        issuedAt: msg.issuedAt,
        signature: msg.signature,
      });
      await stmt.run(trx, q.insertExecution, {
        assignmentId: a.id,
        taskId: a.task_id,
        provider: address.toLowerCase(),
        outputCid: msg.outputCid,
        outputDigest,
        salt,
        result,
        at: t,
      });
      const policy = policyOfSpec(job.spec);
      const opened = existing
        ? { tv: existing, audit: false }
        : await openVerification(s, d, trx, a, address, policy);
      const tv = opened.tv;
      let outputs = s.outputsOf.get(a.task_id);
      if (!outputs) {
        outputs = new Map();
        s.outputsOf.set(a.task_id, outputs);
      }
      outputs.set(outputDigest, tensors);
      if (!signed) {
        const ref = taskRefOf(a.id);
        tv.commit(address, computeCommitment({ taskId: ref, provider: address, outputDigest, salt }), ref);
      }
      // Open every commitment whose round is complete (this one, or ones waiting for it).
      const revealedBy = new Set(tv.log().flatMap((e) => (e.type === 'reveal' ? [e.provider] : [])));
      // A reopened task (recheckCaught.ts) also has executions of an earlier verification, by
      // providers with no execution in this one: nothing to reveal for them.
      const execs = await stmt.all(trx, q.executionsOf, { taskId: a.task_id });
      for (const e of execs) {
        if (tv.verdict() || revealedBy.has(e.provider as Hex) || !mayReveal(tv, e.provider)) continue;
        const set = outputs.get(e.output_digest);
        const invalid = train && set ? invalidUpdate(set, train) : undefined;
        tv.reveal(e.provider as Hex, {
          outputDigest: e.output_digest as Hex,
          salt: e.salt as Hex,
          ...(set ? { tensors: set } : {}),
          ...(invalid ? { invalid } : {}),
        });
      }
      const verdict = tv.verdict();
      if (verdict) {
        // The verdict's write stores the log too (and the row, for a first result without one).
        settled = await settleVerdict(s, d, trx, a.job_id, verdict, tv.log(), {
          row: { policy, audit: opened.audit },
          executions: execs,
          job,
          // This result's lease as its completion returned it: the bill reads no other copy.
          leases: new Map([[a.id, a]]),
        });
      } else {
        await saveVerification(d, trx, tv, a.job_id, policy, opened.audit);
        release = await releasableReveals(d, trx, a.task_id, tv);
        if (tv.pending().length > 0) {
          // More executions are needed (an audit, a tie-breaker): back into the queue, in place.
          await requeueAssigned(trx, a.task_id, t);
        }
      }
      // No digest, cid or provider here: nothing about an output or who made it is public before
      // the verdict, and an auditor's or tie-breaker's result not even that it exists.
      if (isAnnounced(tv, address)) await events.append(trx, a.job_id, 'task.result', { taskId: a.task_id });
    });
  } catch (err) {
    // The in-memory machine may be ahead of the store: rebuild it from the store next time.
    if (taskId) forgetVerification(s, taskId);
    throw err;
  }
  for (const r of release) send(s, r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
  scheduler.release(address);
  // Learned schedulers learn each provider's speed per model from what it measured.
  const info = s.jobCache.get(jobId);
  if (info) scheduler.observe?.(address, info.spec.model, msg.usage.wallMs / 1000);
  if (settled) afterSettle(s, d, jobId, settled);
  d.metrics.tasksFinished.inc({ status: 'completed' });
  events.notify(jobId);
  void d.dispatch();
}

/**
 * Protocol v2: a provider's signed commitment to an output, before it reveals it. Stored once (the
 * same commitment again is answered idempotently); providers whose round is now complete are told
 * to reveal. A canary is a lone execution: told to reveal at once.
 *
 * @example
 * await handleCommit(state, deps, address, msg);
 */
export async function handleCommit(
  s: WorkState,
  d: WorkDeps,
  address: Address,
  msg: ProviderCommit,
): Promise<void> {
  const { db, q, stmt } = d;
  await verifyPlexusMessage({
    chainId: d.chainId,
    primaryType: 'TaskCommitment',
    message: {
      provider: address,
      assignmentId: msg.assignmentId as Hex,
      taskId: msg.taskId as Hex,
      commitment: msg.commitment as Hex,
      issuedAt: BigInt(msg.issuedAt),
    },
    signature: msg.signature,
    expectedSigner: address,
  });
  const t = d.now();
  const store = (trx: Transaction<Database>, taskId: string) =>
    stmt.run(trx, q.insertCommitment, {
      assignmentId: msg.assignmentId,
      taskId,
      provider: address.toLowerCase(),
      commitment: msg.commitment,
      issuedAt: msg.issuedAt,
      signature: msg.signature,
      at: t,
    });
  // As a result's and a failure's: the reference first, then one lookup of either kind of lease.
  const { task: before, canary } = await openLeaseOf(d, address, msg.assignmentId, msg.taskId);
  if (canary) {
    await db.transaction().execute(async (trx) => {
      if (!(await priorCommitment(d, trx, msg))) await store(trx, canary.task_id);
    });
    // A lone execution: its round is complete as soon as it committed.
    send(s, address, { type: 'reveal', assignmentId: msg.assignmentId as Hex });
    return;
  }
  const job = before ? await jobInfo(s, d, before.job_id) : undefined;
  let existing = before ? await loadVerification(s, d, before.task_id) : undefined;
  let release: { assignment_id: string; provider: string }[] = [];
  let taskId = '';
  try {
    await d.commits.run(async (trx) => {
      const a = await leasedAssignment(d, trx, address, msg.assignmentId, msg.taskId);
      taskId = a.task_id;
      if (!job || !before || before.task_id !== a.task_id) {
        throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} has no job`);
      }
      if (d.shared) existing = await lockedVerification(s, d, trx, a.task_id);
      const policy = policyOfSpec(job.spec);
      const opened = existing
        ? { tv: existing, audit: false }
        : await openVerification(s, d, trx, a, address, policy);
      if (!(await priorCommitment(d, trx, msg))) {
        await store(trx, a.task_id);
        opened.tv.commit(address, msg.commitment as Hex, taskRefOf(a.id));
        await saveVerification(d, trx, opened.tv, a.job_id, policy, opened.audit);
      }
      release = await releasableReveals(d, trx, a.task_id, opened.tv);
    });
  } catch (err) {
    if (taskId) forgetVerification(s, taskId);
    throw err;
  }
  for (const r of release) send(s, r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
}
