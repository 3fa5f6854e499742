/**
 * `GET /v1/jobs/:id/training`: a `train.diloco` job's per-round history (training loss, held-out
 * loss and accuracy, each round's global weights cid) and its final weights cid. Public like the
 * job itself (the weights blobs stay readable by the job's client only); the CLI's `job results`,
 * the SDK and the explorer's loss curve read it.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import { type TrainRoundView, trainingViewSchema } from '../../protocol/http/training.ts';
import { hex32Schema } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';

/**
 * The training history route.
 *
 * @example await app.register(trainingRoutes({ db }));
 */
export function trainingRoutes(deps: { db: Kysely<Database> }) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/jobs/:id/training',
      {
        schema: {
          summary: 'Rounds of a training job: loss, held-out accuracy, weights per round, final weights',
          params: z.object({ id: hex32Schema }),
          response: { 200: trainingViewSchema, ...errorResponses },
        },
      },
      async (req) => {
        const job = await deps.db
          .selectFrom('jobs')
          .select(['id', 'kind', 'status', 'spec'])
          .where('id', '=', req.params.id)
          .executeTakeFirst();
        if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${req.params.id}`);
        if (job.kind !== 'train.diloco')
          throw new PlexusError(
            'PLX_UNSUPPORTED_JOB_KIND',
            `job ${job.id} is a ${job.kind} job, not training`,
            {
              details: { kind: job.kind },
            },
          );
        const state = await deps.db
          .selectFrom('train_jobs')
          .select(['round', 'history', 'final_cid'])
          .where('job_id', '=', job.id)
          .executeTakeFirst();
        const spec = JSON.parse(job.spec) as { rounds: number; workers: number };
        const history = JSON.parse(state?.history ?? '[]') as TrainRoundView[];
        return {
          jobId: job.id,
          status: job.status,
          rounds: spec.rounds,
          workers: spec.workers,
          roundsDone: state?.round ?? 0,
          history,
          final: state?.final_cid ?? null,
        };
      },
    );
  };
}
