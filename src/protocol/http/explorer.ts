/**
 * Wire shapes of the explorer's read-only aggregates: `GET /v1/stats`, a provider's history, a
 * job's assignments and its per-task verification. Counts are plain numbers; slashed amounts are
 * decimal strings of base units.
 */
import { z } from 'zod';
import { amountSchema } from './common.ts';
import { assignmentStatusSchema, failureViewSchema, jobStatusSchema, taskStatusSchema } from './jobs.ts';

/** @example verificationStatusSchema.parse('disputed'); */
export const verificationStatusSchema = z.enum(['open', 'accepted', 'rejected', 'disputed']);
/** @example const s: VerificationStatus = 'accepted'; */
export type VerificationStatus = z.infer<typeof verificationStatusSchema>;

const count = z.number();

/**
 * `GET /v1/stats`: providers, capacity online, regions, jobs per minute, status counts of jobs,
 * tasks and assignments (every status present), and verification outcomes.
 *
 * @example const { capacity } = statsSchema.parse(await res.json());
 */
export const statsSchema = z.object({
  generatedAt: z.number(),
  /** The newest event id: the explorer streams `/v1/events?after=` this. */
  lastEventId: z.number(),
  providers: z.object({ known: count, online: count, classes: z.object({ cpu: count, gpu: count }) }),
  capacity: z.object({
    cpuCores: count,
    memoryBytes: count,
    gpus: count,
    slots: count,
    active: count,
    utilization: z.number().nullable(),
    gpuModels: z.array(z.object({ model: z.string(), count, memoryMiB: z.number() })),
  }),
  regions: z.array(
    z.object({
      region: z.string(),
      providers: count,
      online: count,
      cpuCores: count,
      gpus: count,
      slots: count,
    }),
  ),
  jobsPerMinute: z.array(z.object({ start: z.number(), submitted: count, completed: count })),
  jobs: z.record(jobStatusSchema, count),
  tasks: z.record(taskStatusSchema, count),
  assignments: z.record(assignmentStatusSchema, count),
  verification: z.object({
    tasks: z.record(verificationStatusSchema, count),
    /** Accepted with at least two agreeing providers (or a known answer). */
    verified: count,
    /** Accepted on one provider's word. */
    unverified: count,
    audited: count,
    policies: z.record(z.string(), count),
    faults: z.object({ total: count, byKind: z.record(z.string(), count) }),
    slashed: amountSchema,
  }),
});
/** @example const busy = (s: Stats) => s.capacity.utilization ?? 0; */
export type Stats = z.infer<typeof statsSchema>;

/**
 * A proven fault with its evidence and the slash it cost (null when it carried no slash entry).
 *
 * @example const f: FaultView = { taskId: '0x…', jobId: '0x…', kind: 'canary', at: 0, slashed: null, evidence: null };
 */
export const faultViewSchema = z.object({
  taskId: z.string(),
  jobId: z.string(),
  kind: z.string(),
  at: z.number(),
  slashed: amountSchema.nullable(),
  evidence: z
    .object({
      faultyDigest: z.string().nullable(),
      acceptedDigest: z.string().nullable(),
      agreeing: z.array(z.string()),
      digests: z.record(z.string(), z.string()),
      reasons: z.array(z.string()),
    })
    .nullable(),
});
/** @example const costly = (f: FaultView) => f.slashed !== null; */
export type FaultView = z.infer<typeof faultViewSchema>;

/**
 * `GET /v1/providers/:address/history`: recent faults, assignments and session events.
 *
 * @example const { assignments } = providerHistorySchema.parse(await res.json());
 */
export const providerHistorySchema = z.object({
  address: z.string(),
  faults: z.array(faultViewSchema),
  assignments: z.array(
    z.object({
      id: z.string(),
      jobId: z.string(),
      taskIndex: z.number(),
      status: assignmentStatusSchema,
      createdAt: z.number(),
      finishedAt: z.number().nullable(),
      errorCode: z.string().nullable(),
    }),
  ),
  sessions: z.array(
    z.object({
      type: z.string(),
      at: z.number(),
      region: z.string().nullable(),
      slots: z.number().nullable(),
    }),
  ),
});
/** @example const last = (h: ProviderHistory) => h.sessions[0]?.at; */
export type ProviderHistory = z.infer<typeof providerHistorySchema>;

/**
 * One attempt at a task: provider, status, lease and error.
 *
 * @example const a: AssignmentView = { id: '0x…', taskIndex: 0, provider: '0x…', status: 'leased', createdAt: 0, finishedAt: null, error: null };
 */
export const assignmentViewSchema = z.object({
  id: z.string(),
  taskIndex: z.number(),
  provider: z.string(),
  status: assignmentStatusSchema,
  createdAt: z.number(),
  finishedAt: z.number().nullable(),
  error: failureViewSchema.nullable(),
});
/** @example const failed = (a: AssignmentView) => a.error !== null; */
export type AssignmentView = z.infer<typeof assignmentViewSchema>;

/**
 * `GET /v1/jobs/:id/assignments`: every attempt at a job's tasks, oldest first.
 *
 * @example const { assignments } = jobAssignmentsSchema.parse(await res.json());
 */
export const jobAssignmentsSchema = z.object({ assignments: z.array(assignmentViewSchema) });
/** @example const none: JobAssignments = { assignments: [] }; */
export type JobAssignments = z.infer<typeof jobAssignmentsSchema>;

/**
 * A task's verification policy as the explorer shows it (docs/verification.md).
 *
 * @example const p: VerificationPolicyView = { kind: 'redundant', k: 3 };
 */
export const verificationPolicyViewSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('redundant'), k: z.number() }),
  z.object({ kind: z.literal('audit') }),
]);
/** @example const p: VerificationPolicyView = { kind: 'audit' }; */
export type VerificationPolicyView = z.infer<typeof verificationPolicyViewSchema>;

/**
 * One task's verification: policy, audit draw, verdict, each execution and proven faults.
 * An execution's `outcome` comes from the verdict (`valid`, `fault`, `timeout`, `unverified`,
 * `undecided`) or, while the task is open, from its log (`pending`, `revealed`, `abandoned`); it is
 * a string on the wire because a newer verdict may add outcomes.
 *
 * @example const accepted = (t: TaskVerificationView) => t.status === 'accepted';
 */
export const taskVerificationViewSchema = z.object({
  taskIndex: z.number(),
  taskId: z.string(),
  policy: verificationPolicyViewSchema.nullable(),
  audit: z.boolean(),
  status: verificationStatusSchema,
  verified: z.boolean().nullable(),
  acceptedFrom: z.string().nullable(),
  executions: z.array(z.object({ provider: z.string(), role: z.string(), outcome: z.string() })),
  faults: z.array(
    z.object({
      provider: z.string(),
      kind: z.string(),
      agreeing: z.array(z.string()),
      reasons: z.array(z.string()),
    }),
  ),
  updatedAt: z.number(),
});
/** @example const n = (t: TaskVerificationView) => t.executions.length; */
export type TaskVerificationView = z.infer<typeof taskVerificationViewSchema>;

/**
 * `GET /v1/jobs/:id/verification`: each task's verification, by index.
 *
 * @example const { tasks } = jobVerificationViewSchema.parse(await res.json());
 */
export const jobVerificationViewSchema = z.object({ tasks: z.array(taskVerificationViewSchema) });
/** @example const none: JobVerificationView = { tasks: [] }; */
export type JobVerificationView = z.infer<typeof jobVerificationViewSchema>;
