import type { Generated } from 'kysely';

/** Row types of the coordinator store. Times are unix milliseconds; money is TEXT (bigint). */
export type BlobsTable = { cid: string; size: number; created_at: number };

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';
export type JobsTable = {
  id: string;
  client: string;
  nonce: string;
  kind: string;
  spec: string;
  status: JobStatus;
  tasks_total: number;
  tasks_done: number;
  deadline_ms: number;
  issued_at: number;
  signature: string;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
};

export type TaskStatus = 'queued' | 'assigned' | 'completed' | 'failed' | 'cancelled';
export type TasksTable = {
  id: string;
  job_id: string;
  idx: number;
  input_cid: string;
  status: TaskStatus;
  attempts: number;
  output_cid: string | null;
  provider: string | null;
  /** JSON: the signed result (usage, issuedAt, signature) as the provider sent it. */
  result: string | null;
  last_error: string | null;
  queued_at: number;
  updated_at: number;
};

export type AssignmentStatus = 'leased' | 'completed' | 'failed' | 'expired';
export type AssignmentsTable = {
  id: string;
  task_id: string;
  job_id: string;
  provider: string;
  status: AssignmentStatus;
  lease_expires_at: number;
  created_at: number;
  finished_at: number | null;
  error_code: string | null;
  error_message: string | null;
};

export type ProvidersTable = {
  address: string;
  hardware: string;
  slots: number;
  region: string;
  agent_version: string;
  connected: number;
  first_seen: number;
  last_seen: number;
  tasks_completed: number;
  tasks_failed: number;
  /** JSON ReputationState (src/coordinator/verification/reputation.ts); null until the first verdict. */
  reputation: string | null;
};

/** Verification state of one task: its policy, the audit draw and the TaskVerification event log. */
export type TaskVerificationsTable = {
  task_id: string;
  job_id: string;
  /** JSON VerificationPolicy. */
  policy: string;
  /** 1 when the adaptive audit was drawn for the primary (audit policy only). */
  audit: number;
  /** JSON VerificationEvent[]: replayed by TaskVerification.restore after a restart. */
  log: string;
  status: 'open' | 'accepted' | 'rejected' | 'disputed';
  /** JSON Verdict (bigints as decimal strings) once decided. */
  verdict: string | null;
  created_at: number;
  updated_at: number;
};

/** One execution's result as it arrived: the coordinator's commitment to it and the signed result. */
export type TaskExecutionsTable = {
  assignment_id: string;
  task_id: string;
  provider: string;
  output_cid: string;
  /** tensorSetDigest of the decoded output (0x hex). */
  output_digest: string;
  /** Random 32-byte salt of the commitment (0x hex). */
  salt: string;
  /** JSON: the signed result (usage, issuedAt, signature), as tasks.result. */
  result: string;
  created_at: number;
};

/** A proven fault (outvoted, canary, bad reveal) with its evidence. */
export type VerificationFaultsTable = {
  id: Generated<number>;
  task_id: string;
  job_id: string;
  provider: string;
  kind: string;
  /** JSON FaultEvidence. */
  evidence: string;
  created_at: number;
};

/** A slash entry for settlement: amount in base units (decimal TEXT), with the fault's evidence. */
export type SlashesTable = {
  id: Generated<number>;
  task_id: string;
  provider: string;
  amount: string;
  /** JSON FaultEvidence. */
  evidence: string;
  created_at: number;
};

export type EventsTable = {
  id: Generated<number>;
  job_id: string | null;
  type: string;
  data: string;
  created_at: number;
};

export type Database = {
  blobs: BlobsTable;
  jobs: JobsTable;
  tasks: TasksTable;
  assignments: AssignmentsTable;
  providers: ProvidersTable;
  events: EventsTable;
  task_verifications: TaskVerificationsTable;
  task_executions: TaskExecutionsTable;
  verification_faults: VerificationFaultsTable;
  slashes: SlashesTable;
};
