/**
 * The one place a submitted job's row is written: every job kind's intake (submitJob.ts for
 * inference and render jobs, training/trainIntake.ts for `train.diloco`) stores its job with this,
 * inside the transaction that also stores its tasks, and appends the `job.submitted` event.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import { canonicalJson } from '../../protocol/canonicalJson.ts';
import type { JobSpec, JobSubmission } from '../../protocol/schemas.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Database } from '../store/schema.ts';

/**
 * Inserts the job row (queued, no task done) and its `job.submitted` event. A reused
 * (client, nonce) fails on the unique index; callers map that to PLX_REPLAY.
 *
 * @example
 * await insertJobRow(trx, events, { jobId, client, submission, spec, tasks: 4, worstCase, now: Date.now() });
 */
export async function insertJobRow(
  trx: Transaction<Database>,
  events: Pick<EventLog, 'append'>,
  job: {
    jobId: Hex;
    /** The client's address, lower case. */
    client: string;
    submission: JobSubmission;
    /** The spec with defaults applied (what the coordinator runs). */
    spec: JobSpec;
    tasks: number;
    worstCase: bigint | undefined;
    now: number;
  },
): Promise<void> {
  const { submission, spec, now } = job;
  await trx
    .insertInto('jobs')
    .values({
      id: job.jobId,
      client: job.client,
      nonce: submission.nonce,
      kind: spec.kind,
      spec: JSON.stringify(spec),
      // As signed, so validators can check the client's signature (settlement/epochFacts.ts).
      signed_spec: canonicalJson(submission.spec),
      status: 'queued',
      tasks_total: job.tasks,
      deadline_ms: spec.deadline * 1000,
      issued_at: submission.issuedAt,
      signature: submission.signature,
      max_price: submission.maxPricePerUnit,
      worst_case: job.worstCase === undefined ? null : job.worstCase.toString(),
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await events.append(trx, job.jobId, 'job.submitted', {
    client: job.client,
    tasks: job.tasks,
    model: spec.model,
    label: spec.label ?? null,
  });
}
