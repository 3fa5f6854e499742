import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import {
  type JobOutput,
  type JobSpecView,
  type JobView,
  jobListSchema,
  jobResultsSchema,
  jobSubmittedSchema,
  jobWithTasksSchema,
} from '../../protocol/http/jobs.ts';
import { addressSchema, hex32Schema, jobSubmissionSchema } from '../../protocol/schemas.ts';
import type { EventLog } from '../events/createEventLog.ts';
import {
  attemptsOf,
  executionCounts,
  findJob,
  listCompletedTasks,
  listJobs,
  listTasksOfJob,
  revokedOutputsOf,
} from '../jobs/jobQueries.ts';
import type { JobSubmitter } from '../jobs/submitJob.ts';
import { type JobCharges, jobCharges } from '../ledger/jobCharges.ts';
import type { Database } from '../store/schema.ts';
import { type StreamLimits, streamEvents } from './sse.ts';
import { trainingRoutes } from './trainingRoutes.ts';

const jobParams = z.object({ id: hex32Schema });
/** The streams are text/event-stream, outside what a JSON response schema can say; /docs says it. */
const SSE_DESCRIPTION =
  'A text/event-stream: each event has `id`, `event` (its type) and `data`, a JSON object with ' +
  '`jobId` (null for network events), `at` (ms) and the fields of the event (eventDataSchema in ' +
  'src/protocol/http/jobs.ts).';

/** A job row, or PLX_NOT_FOUND. */
async function loadJob(db: Kysely<Database>, id: string) {
  const job = await findJob(db, id);
  if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${id}`);
  return job;
}

/**
 * Bytes of one `GET /v1/jobs` page at most (its job summaries as JSON): the page ends early
 * beyond it, and `before` pages on from the last job shown (security review s10 F2).
 */
export const MAX_JOB_LIST_BYTES = 1024 * 1024;

/** A job as the API shows it (spec, progress, failure reason, cost). */
function jobView(
  job: Pick<
    Awaited<ReturnType<typeof loadJob>>,
    | 'id'
    | 'client'
    | 'kind'
    | 'status'
    | 'spec'
    | 'tasks_total'
    | 'tasks_done'
    | 'error_code'
    | 'error_message'
    | 'created_at'
    | 'updated_at'
    | 'worst_case'
  >,
  charges: Map<string, JobCharges>,
): JobView {
  return {
    id: job.id,
    client: job.client,
    kind: job.kind,
    status: job.status,
    spec: JSON.parse(job.spec) as JobSpecView,
    tasksTotal: job.tasks_total,
    tasksDone: job.tasks_done,
    error: job.error_code ? { code: job.error_code, message: job.error_message } : null,
    createdAt: job.created_at,
    updatedAt: job.updated_at,
    cost: { charged: (charges.get(job.id)?.total ?? 0n).toString(), worstCase: job.worst_case ?? null },
  };
}

/** Tasks still being decided: their executions stay secret (see taskViewSchema). */
const OPEN_TASK = new Set(['queued', 'assigned']);

/**
 * Client job API: submit a signed job, read it with its tasks, stream its events, fetch results.
 * @example await app.register(jobRoutes({ db, events, submitter }));
 */
export function jobRoutes(deps: {
  db: Kysely<Database>;
  events: EventLog;
  submitter: JobSubmitter;
  /** Bounds of the event streams (sse.ts), e.g. the per-IP cap. */
  streamLimits?: StreamLimits;
}) {
  const { db, events, submitter } = deps;
  const limits = deps.streamLimits ?? {};
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    await app.register(trainingRoutes({ db })); // GET /v1/jobs/:id/training

    r.post(
      '/v1/jobs',
      {
        schema: {
          summary: 'Submit a signed job (EIP-712 JobSubmission over the spec hash)',
          body: jobSubmissionSchema,
          response: { 201: jobSubmittedSchema, ...errorResponses },
        },
        // Only JSON: Fastify parses text/plain into a string, which then failed the schema as a
        // 400; the media type is what is wrong (415).
        onRequest: async (req) => {
          const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
          if (type !== 'application/json') {
            throw new PlexusError('PLX_UNSUPPORTED_MEDIA_TYPE', 'send the job as application/json', {
              details: { contentType: type || null },
            });
          }
        },
      },
      async (req, reply) => reply.status(201).send(await submitter.submit(req.body)),
    );

    r.get(
      '/v1/jobs',
      {
        schema: {
          summary:
            'List jobs, newest first (`before` pages back): summaries, each spec with `inputCount` in place of its inputs',
          querystring: z.strictObject({
            client: addressSchema.optional(),
            status: z.enum(['queued', 'running', 'completed', 'failed']).optional(),
            limit: z.coerce.number().int().min(1).max(200).default(50),
            // The next page: jobs older than the last one shown (`createdAt:id` of that job).
            before: z
              .string()
              .regex(/^\d{1,15}:0x[0-9a-f]{64}$/, 'createdAt:jobId of the last job of the previous page')
              .optional(),
          }),
          response: { 200: jobListSchema, ...errorResponses },
        },
      },
      async (req) => {
        const rows = await listJobs(db, {
          client: req.query.client?.toLowerCase(),
          status: req.query.status,
          limit: req.query.limit,
          before: req.query.before
            ? {
                createdAt: Number(req.query.before.split(':')[0]),
                id: req.query.before.split(':')[1]!,
              }
            : undefined,
        });
        const charges = await jobCharges(
          db,
          rows.map((j) => j.id),
        );
        // Summaries (listJobs): counts in place of the input and shard lists; cut at the byte cap.
        const jobs: JobView[] = [];
        let bytes = 0;
        for (const j of rows) {
          const v = jobView(j, charges);
          if (j.input_count !== null) v.spec.inputCount = Number(j.input_count);
          if (j.shard_count !== null) v.spec.shardCount = Number(j.shard_count);
          bytes += JSON.stringify(v).length + 1;
          if (bytes > MAX_JOB_LIST_BYTES && jobs.length > 0) break;
          jobs.push(v);
        }
        return { jobs };
      },
    );

    r.get(
      '/v1/jobs/:id',
      {
        schema: {
          summary: 'A job with its tasks',
          params: jobParams,
          response: { 200: jobWithTasksSchema, ...errorResponses },
        },
      },
      async (req) => {
        const job = await loadJob(db, req.params.id);
        const tasks = await listTasksOfJob(db, job.id);
        const revoked = await revokedOutputsOf(db, job.id);
        const charges = await jobCharges(db, [job.id]);
        const executions = await executionCounts(db, job.id);
        return {
          ...jobView(job, charges),
          tasks: tasks.map((t) => {
            const e = executions.get(t.id) ?? { failed: 0, lost: 0, running: 0, completed: 0 };
            return {
              id: t.id,
              index: t.idx,
              input: t.input_cid,
              status: t.status,
              // Tries at the output, as maxAttempts counts them: never the replicas and audits,
              // nor leases lost with their session (within the allowance).
              attempts: attemptsOf(e),
              executions: OPEN_TASK.has(t.status) ? null : e.failed + e.lost + e.running + e.completed,
              output: t.output_cid,
              provider: t.provider,
              lastError: t.last_error,
              cost: (charges.get(job.id)?.byTask.get(t.id) ?? 0n).toString(),
              ...(revoked.has(t.id) ? { revoked: revoked.get(t.id) } : {}),
            };
          }),
        };
      },
    );

    r.get(
      '/v1/jobs/:id/events',
      {
        schema: {
          summary: 'Server-sent events of a job (resumable with Last-Event-ID)',
          description: SSE_DESCRIPTION,
          params: jobParams,
          querystring: z.object({
            after: z
              .string()
              .regex(/^\d{1,15}$/)
              .optional(),
          }),
          response: errorResponses,
        },
      },
      async (req, reply) => {
        await loadJob(db, req.params.id);
        streamEvents(req, reply, events, req.params.id, limits);
      },
    );

    r.get(
      '/v1/jobs/:id/results',
      {
        schema: {
          summary: 'Outputs of a finished job (or what is done so far with ?partial=true)',
          params: jobParams,
          querystring: z.object({ partial: z.enum(['true', 'false']).default('false') }),
          response: { 200: jobResultsSchema, ...errorResponses },
        },
      },
      async (req) => {
        const job = await loadJob(db, req.params.id);
        const finished = job.status === 'completed' || job.status === 'failed';
        if (!finished && req.query.partial !== 'true') {
          throw new PlexusError('PLX_JOB_NOT_FINISHED', `job is ${job.status}`, {
            details: { status: job.status },
          });
        }
        const tasks = await listCompletedTasks(db, job.id);
        const revoked = await revokedOutputsOf(db, job.id);
        return {
          jobId: job.id,
          status: job.status,
          error: job.error_code ? { code: job.error_code, message: job.error_message } : null,
          outputs: tasks.map((t) => {
            const res = JSON.parse(t.result ?? '{}') as Pick<JobOutput, 'usage' | 'signature' | 'issuedAt'>;
            return {
              index: t.idx,
              input: t.input_cid,
              // Completing a task records its output and provider, so neither is null here.
              output: t.output_cid as string,
              provider: t.provider as string,
              usage: res.usage,
              signature: res.signature,
              issuedAt: res.issuedAt,
              ...(revoked.has(t.id) ? { revoked: revoked.get(t.id) } : {}),
            };
          }),
        };
      },
    );

    r.get(
      '/v1/events',
      {
        schema: {
          summary: 'Server-sent events of the whole network (explorer)',
          description: SSE_DESCRIPTION,
          querystring: z.object({
            after: z
              .string()
              .regex(/^\d{1,15}$/)
              .optional(),
          }),
          response: errorResponses,
        },
      },
      async (req, reply) => {
        streamEvents(req, reply, events, null, limits);
      },
    );
  };
}
