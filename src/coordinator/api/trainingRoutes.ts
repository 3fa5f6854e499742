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
import { errorResponses } from '../../protocol/http/common.ts';
import { trainingViewSchema } from '../../protocol/http/training.ts';
import { hex32Schema } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { trainingView } from '../training/trainingView.ts';

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
      (req) => trainingView(deps.db, req.params.id),
    );
  };
}
