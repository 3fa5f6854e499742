/**
 * Wire shapes of the client job API (`/v1/jobs…`): a job, its tasks, a job list, its results, the
 * submission answer and the events of its Server-Sent Event stream. The SDK
 * (src/client/createClient.ts) and the explorer (web/) take their types from here.
 */
import { z } from 'zod';
import { amountSchema } from './common.ts';

/** @example jobStatusSchema.parse('running'); */
export const jobStatusSchema = z.enum(['queued', 'running', 'completed', 'failed']);
/** @example const s: JobStatus = 'completed'; */
export type JobStatus = z.infer<typeof jobStatusSchema>;
/** @example taskStatusSchema.parse('assigned'); */
export const taskStatusSchema = z.enum(['queued', 'assigned', 'completed', 'failed', 'cancelled']);
/** @example const s: TaskStatus = 'queued'; */
export type TaskStatus = z.infer<typeof taskStatusSchema>;
/** @example assignmentStatusSchema.parse('leased'); */
export const assignmentStatusSchema = z.enum(['leased', 'completed', 'failed', 'expired']);
/** @example const s: AssignmentStatus = 'expired'; */
export type AssignmentStatus = z.infer<typeof assignmentStatusSchema>;

/**
 * Why a job (or an attempt) failed; the message may be absent in the store.
 *
 * @example const e: FailureView = { code: 'PLX_DEADLINE_EXCEEDED', message: 'deadline passed' };
 */
export const failureViewSchema = z.object({ code: z.string(), message: z.string().nullable() });
/** @example const e: FailureView = { code: 'PLX_TASK_FAILED', message: null }; */
export type FailureView = z.infer<typeof failureViewSchema>;

/**
 * The spec as stored at submission (an `onnx.infer` spec with its defaults filled in). Open-ended:
 * other job kinds carry other fields, and the response must never drop one.
 *
 * @example const spec: JobSpecView = { kind: 'onnx.infer', model: 'ab…', inputs: ['cd…'] };
 */
export const jobSpecViewSchema = z.looseObject({
  kind: z.string().optional(),
  model: z.string().optional(),
  label: z.string().nullable().optional(),
  inputs: z.array(z.string()).optional(),
  deadline: z.number().optional(),
  verification: z
    .looseObject({ policy: z.enum(['none', 'audit', 'redundant']), k: z.number().optional() })
    .optional(),
  /** The job opted into public data (anyone may download it); absent: private. */
  public: z.boolean().optional(),
  /** `GET /v1/jobs` (a summary): how many inputs the spec names, in place of `inputs`. */
  inputCount: z.number().optional(),
  /** `GET /v1/jobs` (a summary): how many shards a training spec names, in place of `shards`. */
  shardCount: z.number().optional(),
});
/** @example const spec: JobSpecView = { model: 'ab…' }; */
export type JobSpecView = z.infer<typeof jobSpecViewSchema>;

/**
 * What a job cost its client so far: `charged` is the sum of the charges the ledger holds for its
 * accepted executions (final once the job is finished); `worstCase` what admission reserved from
 * the escrow (null in development mode and for jobs from before the market). Base units.
 *
 * @example const c: JobCostView = { charged: '2880000000000000', worstCase: '28800000000000000000' };
 */
export const jobCostViewSchema = z.object({ charged: amountSchema, worstCase: amountSchema.nullable() });
/** @example const free = (c: JobCostView) => c.charged === '0'; */
export type JobCostView = z.infer<typeof jobCostViewSchema>;

/**
 * A job as `GET /v1/jobs` lists it: spec, progress, failure reason, cost. Its client sees it whole;
 * anyone else sees the public part (docs/verification.md "What the public sees"): `client`,
 * `cost`, `tasksTotal` and `tasksDone` null, the spec's kind, model, policy and public flag only.
 *
 * @example const { jobs } = jobListSchema.parse(await res.json()); jobs[0]?.tasksDone;
 */
export const jobViewSchema = z.object({
  id: z.string(),
  /** Null unless the reader is the job's client. */
  client: z.string().nullable(),
  kind: z.string(),
  status: jobStatusSchema,
  spec: jobSpecViewSchema,
  /** Null unless the reader is the job's client (a job's size and progress are its own). */
  tasksTotal: z.number().nullable(),
  tasksDone: z.number().nullable(),
  error: failureViewSchema.nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Null unless the reader is the job's client. */
  cost: jobCostViewSchema.nullable(),
});
/** @example const done = (j: JobView) => j.tasksDone === j.tasksTotal; */
export type JobView = z.infer<typeof jobViewSchema>;

/**
 * One task of a job: its input, where it stands, its output, who ran it and what it cost.
 * `attempts` counts tries at getting its output, as `maxAttempts` does: the executions that
 * produced no result (failed, expired; not a lease lost with its provider's session, within an
 * allowance of 6) plus the one running or done. Replicas, audits and
 * tie-breakers are `executions`, shown once the task is finished (null before: who runs what, and
 * whether an audit was drawn, is secret until the verdict). `cost`: its charges (base units).
 *
 * @example const t: TaskView = { id: '0x…', index: 0, input: 'ab…', status: 'queued', attempts: 0, executions: null, output: null, provider: null, lastError: null, cost: '0' };
 */
/**
 * An output found wrong after it was delivered (docs/verification.md "Caught: unchecked outputs
 * re-run"): two independent trusted checks agreed with each other and not with it, so it is revoked.
 * `replacement`: the checks' output (a blob the job's client may read); `checkedBy`: the checkers;
 * `refund`: the task's charges are refunded to the client from the wrong provider's seized stake.
 *
 * @example const r: RevokedOutput = { replacement: 'ab…', checkedBy: ['0x…', '0x…'], refund: true, at: 0 };
 */
export const revokedOutputSchema = z.object({
  replacement: z.string(),
  checkedBy: z.array(z.string()),
  refund: z.boolean(),
  at: z.number(),
});
/** @example const cid = (r: RevokedOutput) => r.replacement; */
export type RevokedOutput = z.infer<typeof revokedOutputSchema>;

export const taskViewSchema = z.object({
  id: z.string(),
  index: z.number(),
  input: z.string(),
  status: taskStatusSchema,
  attempts: z.number(),
  executions: z.number().nullable(),
  output: z.string().nullable(),
  provider: z.string().nullable(),
  lastError: z.string().nullable(),
  cost: amountSchema,
  /** Present when the delivered output was later revoked. */
  revoked: revokedOutputSchema.optional(),
});
/** @example const failed = (t: TaskView) => t.status === 'failed'; */
export type TaskView = z.infer<typeof taskViewSchema>;

/**
 * `GET /v1/jobs/:id`: the job with every task — for its client; empty for anyone else.
 *
 * @example const job = jobWithTasksSchema.parse(await res.json()); job.tasks.length;
 */
export const jobWithTasksSchema = jobViewSchema.extend({ tasks: z.array(taskViewSchema) });
/** @example const outputs = (j: JobWithTasks) => j.tasks.map((t) => t.output); */
export type JobWithTasks = z.infer<typeof jobWithTasksSchema>;

/**
 * `GET /v1/jobs`: jobs, newest first.
 *
 * @example const { jobs } = jobListSchema.parse(await res.json());
 */
export const jobListSchema = z.object({ jobs: z.array(jobViewSchema) });
/** @example const list: JobList = { jobs: [] }; */
export type JobList = z.infer<typeof jobListSchema>;

/**
 * `POST /v1/jobs` (201): the job id and how many tasks it was split into.
 *
 * @example const { jobId } = jobSubmittedSchema.parse(await res.json());
 */
export const jobSubmittedSchema = z.object({ jobId: z.string(), tasks: z.number() });
/** @example const s: JobSubmitted = { jobId: '0x…', tasks: 4 }; */
export type JobSubmitted = z.infer<typeof jobSubmittedSchema>;

/**
 * One output of `GET /v1/jobs/:id/results`: the provider's measured usage and its signature over
 * the result (absent only on a row stored without them).
 *
 * @example const o: JobOutput = { index: 0, input: 'ab…', output: 'cd…', provider: '0x…' };
 */
export const jobOutputSchema = z.object({
  index: z.number(),
  input: z.string(),
  // Only completed tasks are listed, and completing a task records both.
  output: z.string(),
  provider: z.string(),
  usage: z.looseObject({ wallMs: z.number(), cpuMs: z.number(), peakRssBytes: z.number() }).optional(),
  signature: z.string().optional(),
  issuedAt: z.number().optional(),
  /** Present when this output was later found wrong: use `revoked.replacement` instead. */
  revoked: revokedOutputSchema.optional(),
});
/** @example const cpu = (o: JobOutput) => o.usage?.cpuMs ?? 0; */
export type JobOutput = z.infer<typeof jobOutputSchema>;

/**
 * `GET /v1/jobs/:id/results`: the outputs of completed tasks, by index.
 *
 * @example const { outputs } = jobResultsSchema.parse(await res.json());
 */
export const jobResultsSchema = z.object({
  jobId: z.string(),
  status: jobStatusSchema,
  error: failureViewSchema.nullable(),
  outputs: z.array(jobOutputSchema),
});
/** @example const n = (r: JobResults) => r.outputs.length; */
export type JobResults = z.infer<typeof jobResultsSchema>;

/**
 * The `data:` of one Server-Sent Event (`/v1/events`, `/v1/jobs/:id/events`): the job it belongs
 * to (null for network events), when it happened, and the event's own fields.
 *
 * @example const d = eventDataSchema.parse(JSON.parse(sse.data)); d.at;
 */
export const eventDataSchema = z.looseObject({ jobId: z.string().nullable(), at: z.number() });
/** @example const d: EventData = { jobId: null, at: Date.now(), address: '0x…' }; */
export type EventData = z.infer<typeof eventDataSchema>;

/**
 * One event of a stream as a client reads it: the SSE `id`, `event` (its type) and parsed `data`.
 *
 * @example const e: JobEvent = { id: 7, type: 'job.completed', data: { jobId: '0x…', at: 0 } };
 */
export type JobEvent = { id: number; type: string; data: Record<string, unknown> };
