/**
 * A `train.diloco` job's progress as `GET /v1/jobs/:id/training` shows it (docs/training.md): the
 * rounds closed so far (training loss, held-out loss and accuracy, weights cid) and the final
 * weights' cid once the job completed.
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { TrainingView, TrainRoundView } from '../../protocol/http/training.ts';
import { TFJS_VERSION } from '../../protocol/training.ts';
import type { Database } from '../store/schema.ts';

/**
 * Reads a training job's history: PLX_NOT_FOUND for no such job, PLX_UNSUPPORTED_JOB_KIND for a
 * job of another kind.
 *
 * @example const { history, final } = await trainingView(db, jobId);
 */
export async function trainingView(db: Kysely<Database>, jobId: string): Promise<TrainingView> {
  const job = await db
    .selectFrom('jobs')
    .select(['id', 'kind', 'status', 'spec'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${jobId}`);
  if (job.kind !== 'train.diloco')
    throw new PlexusError('PLX_UNSUPPORTED_JOB_KIND', `job ${job.id} is a ${job.kind} job, not training`, {
      details: { kind: job.kind },
    });
  const state = await db
    .selectFrom('train_jobs')
    .select(['round', 'history', 'final_cid'])
    .where('job_id', '=', job.id)
    .executeTakeFirst();
  const spec = JSON.parse(job.spec) as {
    rounds: number;
    workers: number;
    backend?: { name: string; version: string };
  };
  return {
    jobId: job.id,
    status: job.status,
    rounds: spec.rounds,
    workers: spec.workers,
    roundsDone: state?.round ?? 0,
    history: JSON.parse(state?.history ?? '[]') as TrainRoundView[],
    final: state?.final_cid ?? null,
    // Jobs stored before the spec named a backend ran on WASM at the release of the time.
    backend: spec.backend ?? { name: 'wasm', version: TFJS_VERSION },
  };
}
