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
import { JOB_LIST_READ } from '../../protocol/jobRead.ts';
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
import {
  findShadowJob,
  isPublicJob,
  listShadowJobs,
  publicSpecOf,
  type ShadowJobRow,
} from '../jobs/shadowJobs.ts';
import type { JobSubmitter } from '../jobs/submitJob.ts';
import { type JobCharges, jobCharges } from '../ledger/jobCharges.ts';
import type { Database } from '../store/schema.ts';
import { jobReader, requireJobClient } from './jobReader.ts';
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

type JobRowView = Pick<
  ShadowJobRow,
  'id' | 'client' | 'kind' | 'spec' | 'status' | 'tasks_total' | 'tasks_done' | 'created_at' | 'updated_at'
> & { error_code: string | null; error_message: string | null; worst_case: string | null };

/**
 * A job as the API shows it. Its client (`mine`) sees everything: spec, progress, failure reason,
 * cost. Everyone else sees the public part — kind, model, policy, progress, times — the same for
 * real and shadow jobs: no client, no cost, no inputs (docs/verification.md "What the public sees").
 */
function jobView(job: JobRowView, charges: Map<string, JobCharges>, mine: boolean): JobView {
  const spec = JSON.parse(job.spec) as Record<string, unknown>;
  return {
    id: job.id,
    client: mine ? job.client : null,
    kind: job.kind,
    status: job.status,
    spec: mine ? (spec as JobSpecView) : publicSpecOf(spec),
    tasksTotal: mine ? job.tasks_total : null,
    tasksDone: mine ? job.tasks_done : null,
    error: job.error_code ? { code: job.error_code, message: job.error_message } : null,
    createdAt: job.created_at,
    updatedAt: job.updated_at,
    cost: mine
      ? { charged: (charges.get(job.id)?.total ?? 0n).toString(), worstCase: job.worst_case ?? null }
      : null,
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
  /** The chain id of the EIP-712 domain a client signs its job reads in. */
  chainId: number;
  /** Bounds of the event streams (sse.ts), e.g. the per-IP cap. */
  streamLimits?: StreamLimits;
}) {
  const { db, events, submitter, chainId } = deps;
  /**
   * The client of a real job (shadow jobs have one nobody holds, and answer like no job); null for
   * a public job, whose data its client opened to anyone (its task views need no signature).
   */
  const clientOf = (id: string) => async () => {
    const job = await findJob(db, id);
    return job && isPublicJob(job.spec) ? null : job?.client;
  };
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
            "List jobs, newest first (`before` pages back): summaries, each of the client's own specs with `inputCount` in place of its inputs; `client` needs that client's signed JobRead of the zero id",
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
        // Whose jobs these are is the client's to know: the filter needs its signed list read.
        const client = req.query.client?.toLowerCase();
        if (client !== undefined) {
          const reader = await jobReader(req, JOB_LIST_READ, chainId);
          if (reader !== client)
            throw new PlexusError(
              'PLX_AUTH_REQUIRED',
              "a client's job list is its own: sign a JobRead of the zero id",
            );
        }
        const q = {
          status: req.query.status,
          limit: req.query.limit,
          before: req.query.before
            ? {
                createdAt: Number(req.query.before.split(':')[0]),
                id: req.query.before.split(':')[1]!,
              }
            : undefined,
        };
        const real = await listJobs(db, { ...q, client });
        // Canaries' shadow jobs are listed like any other client's (never in a client's own list).
        const shadow = client === undefined ? await listShadowJobs(db, q) : [];
        const rows = [...real, ...shadow]
          .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
          .slice(0, q.limit);
        const charges = await jobCharges(
          db,
          rows.map((j) => j.id),
        );
        // Summaries (listJobs): counts in place of the input and shard lists (shown to the client
        // only: a public count would tell one-task shadow jobs apart); cut at the byte cap.
        const mine = client !== undefined;
        const jobs: JobView[] = [];
        let bytes = 0;
        for (const j of rows) {
          const v = jobView(j, charges, mine);
          if (mine && 'input_count' in j && j.input_count !== null) v.spec.inputCount = Number(j.input_count);
          if (mine && 'shard_count' in j && j.shard_count !== null) v.spec.shardCount = Number(j.shard_count);
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
          summary:
            'A job; its tasks only for its client (signed JobRead in x-plexus-auth), the public part for anyone else',
          params: jobParams,
          response: { 200: jobWithTasksSchema, ...errorResponses },
        },
      },
      async (req) => {
        const id = req.params.id;
        const job = (await findJob(db, id)) ?? (await findShadowJob(db, id));
        if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${id}`);
        // Its tasks (ids, inputs, outputs, who ran them) are its client's: anyone else gets the
        // public part and no tasks, for a real job and a canary's shadow job alike.
        const reader = await jobReader(req, id, chainId);
        // A public job (its client opened its data to anyone; never a shadow job) reads whole.
        const open = 'nonce' in job && isPublicJob(job.spec);
        if (!open && (reader === undefined || reader !== job.client))
          return { ...jobView(job, new Map(), false), tasks: [] };
        const tasks = await listTasksOfJob(db, job.id);
        const revoked = await revokedOutputsOf(db, job.id);
        const charges = await jobCharges(db, [job.id]);
        const executions = await executionCounts(db, job.id);
        return {
          ...jobView(job, charges, true),
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
          summary:
            'Server-sent events of a job, for its client (signed JobRead; resumable with Last-Event-ID)',
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
        await requireJobClient(req, req.params.id, chainId, clientOf(req.params.id));
        streamEvents(req, reply, events, req.params.id, limits);
      },
    );

    r.get(
      '/v1/jobs/:id/results',
      {
        schema: {
          summary:
            'Outputs of a finished job (or what is done so far with ?partial=true), for its client (signed JobRead)',
          params: jobParams,
          querystring: z.object({ partial: z.enum(['true', 'false']).default('false') }),
          response: { 200: jobResultsSchema, ...errorResponses },
        },
      },
      async (req) => {
        await requireJobClient(req, req.params.id, chainId, clientOf(req.params.id));
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
          summary: "Server-sent events of the whole network (explorer): network events only, no job's",
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
