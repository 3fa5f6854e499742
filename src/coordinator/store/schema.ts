import type { Generated } from 'kysely';
import type { AssignmentsTable } from './assignmentSchema.ts';
import type { CanaryHoldsTable } from './canaryHoldMigration.ts';
import type { CapabilityAnswerColumns } from './capabilityProofMigration.ts';
import type { PublicReputationTable } from './publicReputationMigration.ts';
import type { ReviewCheckBasesTable } from './reviewCheckMigration.ts';
import type { OutputRevocationsTable, ReopenedOutputsTable } from './revocationSchema.ts';
import type { ShadowJobsTable } from './shadowJobsMigration.ts';
import type { ShadowPendingTable } from './shadowPendingMigration.ts';
import type { BlobChunksTable, LedgerBalancesTable, ProviderUploadsTable } from './uploadSchema.ts';

/** Row types of the coordinator store. Times are unix milliseconds; money is TEXT (bigint). */
export type BlobsTable = {
  cid: string;
  size: number;
  created_at: number;
  /** The bytes of a tiny blob kept in the store instead of a file (migration 0033); null: a file. */
  data: Generated<Uint8Array | null>;
};
/** Who uploaded a blob (one row per account that did): blob quotas and read rights. */
export type BlobUploadsTable = { cid: string; account: string; size: number; created_at: number };

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';
export type JobsTable = {
  id: string;
  client: string;
  nonce: string;
  kind: string;
  spec: string;
  status: JobStatus;
  tasks_total: number;
  deadline_ms: number;
  issued_at: number;
  signature: string;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
  /** Client's signed cap per resource unit (decimal base units); null for jobs from before the market. */
  max_price: Generated<string | null>;
  /** The job's worst-case cost reserved against the client's escrow at admission (decimal base units). */
  worst_case: Generated<string | null>;
  /** The spec exactly as signed (canonical JSON); null for jobs from before it was kept. */
  signed_spec: Generated<string | null>;
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

export type { AssignmentStatus, AssignmentsTable } from './assignmentSchema.ts';

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
  /** JSON Record<resource class, decimal base units>: the floor prices the agent advertised. */
  floor_prices: Generated<string | null>;
  /** JSON CapabilityView: the latest capability proof's outcome; null until one was judged. */
  capability: Generated<string | null>;
  /** The network prefix of its latest session (kinship.ts); '' when the address tells nothing,
   * null when unknown (not connected since 0025). */
  network_prefix: Generated<string | null>;
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
  /** The epoch whose close applied it (0: before 0035); null while pending (settlement/slashCursor.ts). */
  applied_epoch: number | null;
};

export type EventsTable = {
  id: Generated<number>;
  job_id: string | null;
  type: string;
  data: string;
  created_at: number;
};

/** A journal entry of the double-entry ledger (src/coordinator/ledger): never updated or deleted. */
export type LedgerEntriesTable = {
  id: Generated<number>;
  /** Idempotency key: one entry per fact (an execution, an epoch's emission, a slash). */
  ref: string;
  kind: string;
  /** The epoch the entry belongs to (settled with that epoch). */
  epoch: number;
  job_id: string | null;
  /** JSON: what the entry is about (task, usage, price…). */
  memo: string;
  created_at: number;
};

/** One posting of an entry: signed decimal base units (debit positive, credit negative). */
export type LedgerPostingsTable = {
  id: Generated<number>;
  entry_id: number;
  account: string;
  amount: string;
};

/** One connected interval of a provider (uptime for emission, capacity for utilization). */
export type ProviderSessionsTable = {
  id: Generated<number>;
  provider: string;
  slots: number;
  connected_at: number;
  disconnected_at: number | null;
  /** The coordinator replica holding the session's socket (null: written before 0022). */
  replica: string | null;
  /** When its provider said it drains (0048): uptime stops counting there. */
  draining_at: Generated<number | null>;
};

/** A coordinator process on this store and its last heartbeat (unix ms); see replicaRegistry.ts. */
export type CoordinatorReplicasTable = {
  id: string;
  started_at: number;
  heartbeat_at: number;
};

/** Base price of a resource class in force during an epoch, and the utilization measured in it. */
export type PricesTable = {
  class: string;
  epoch: number;
  base_price: string;
  utilization: number | null;
};

export type EpochStatus = 'open' | 'closing' | 'signed' | 'submitted' | 'settled';
/**
 * An epoch's evidence bundle (settlement/evidence.ts), written when the epoch closes.
 *
 * @example
 * const row: EpochEvidenceTable = { epoch: 4, hash: '0x…', prev_hash: '0x…', body: '{…}', created_at: Date.now() };
 */
export type EpochEvidenceTable = {
  epoch: number;
  /** sha256 of `body` (the payload's evidenceHash). */
  hash: string;
  prev_hash: string;
  /** Canonical JSON of the bundle. */
  body: string;
  created_at: number;
};

export type EpochsTable = {
  epoch: number;
  status: EpochStatus;
  starts_at: number;
  ends_at: number;
  /** JSON EpochPayload (bigints as decimal strings), fixed when the epoch closes. */
  payload: string | null;
  /** JSON StandardMerkleTree dump of the rewards tree (null when nobody has earned yet). */
  tree: string | null;
  /** JSON EpochSummary (figures for the API). */
  summary: string | null;
  /** JSON EpochSignature[]. */
  signatures: string | null;
  tx_hash: string | null;
  settled_at: number | null;
  updated_at: number;
};

export type MarketMetaTable = { key: string; value: string };

/** One judged capability proof (docs/verification.md, "Capability proof"). */
export type CapabilityProofsTable = {
  challenge_id: string;
  provider: string;
  hardware_class: string;
  n: number;
  /** `passed`, `slow` (correct, over the class budget), `wrong` (a fault) or `missed` (no answer in time). */
  outcome: 'passed' | 'slow' | 'wrong' | 'missed';
  elapsed_ms: number | null;
  gflops: number | null;
  reason: string;
  created_at: number;
} & Partial<CapabilityAnswerColumns>;

/** A known-answer task: a verified task's model and input with the output providers agreed on. */
export type CanaryTasksTable = {
  id: string;
  source_task_id: string;
  source_job_id: string;
  model: string;
  input_cid: string;
  gpu: number;
  timeout_ms: number;
  /** tensorSetDigest of the agreed output (0x hex). */
  expected_digest: string;
  /** Content id of the agreed output (tolerance comparison of float outputs). */
  expected_cid: string;
  issued: number;
  retired: number;
  created_at: number;
  /** The source job's kind (0074): `onnx.infer`, or `blender.render` (review only). */
  kind: Generated<string>;
};

/** A canary issued to one provider under a fresh task id. */
export type CanaryAssignmentsTable = {
  id: string;
  task_id: string;
  canary_id: string;
  provider: string;
  /** `review`: a long-record miss awaiting re-verification; `voided`: a poisoned canary's miss. */
  status: 'leased' | 'passed' | 'failed' | 'expired' | 'review' | 'voided';
  lease_expires_at: number;
  output_cid: string | null;
  created_at: number;
  finished_at: number | null;
  /** The provider's reputation (JSON) just before a missed canary faulted it (0014). */
  rep_before: Generated<string | null>;
  /** The injection draw (0020): its epoch's seed, the slot drawn for, the rate and the draw (JSON numbers). */
  draw_epoch: Generated<number | null>;
  slot: Generated<string | null>;
  rate: Generated<string | null>;
  draw: Generated<string | null>;
  /** The code of the provider's signed failure report that ended the lease (0077; null otherwise). */
  error_code: Generated<string | null>;
  /** The provider's signed result (JSON usage, issuedAt, signature) (0020). */
  result: Generated<string | null>;
  /** The epoch whose evidence bundle reported the finished lease (0020). */
  reported_in: Generated<number | null>;
  /** The lease id's salt (0066, protocol/taskRef.ts `boundLeaseId`): null on older leases. Secret until evidence. */
  lease_salt: Generated<string | null>;
};

/** Who agreed on a canary's source verdict (0014). */
export type CanarySourcesTable = { canary_id: string; provider: string };

/** A re-verification of a doubtful canary by a trusted provider (0014, work/canaryReviews.ts). */
export type CanaryReviewsTable = {
  id: string;
  canary_id: string;
  /** `record-miss`: a long-record provider missed it; `source-faulted`: one of its source's agreers faulted. */
  reason: 'record-miss' | 'source-faulted' | 'record-miss-duplicate';
  /** The missed canary lease under review (record-miss). */
  lease_id: string | null;
  provider: string | null;
  /** The fault evidence that would be recorded if the canary is confirmed (JSON). */
  evidence: string | null;
  /** `expired`: no independent check resolved it before its deadline (0025): held misses voided. */
  status: 'open' | 'confirmed' | 'poisoned' | 'expired';
  check_lease_id: string | null;
  checked_by: string | null;
  created_at: number;
  resolved_at: number | null;
  /** A first check that found the known answer wrong (0025): a second independent check must agree
   * with it before anything is reversed. */
  first_check_lease_id: Generated<string | null>;
  first_checked_by: Generated<string | null>;
};

/** A fault found wrong on review, and what happened to its slash (0014). */
export type FaultReversalsTable = {
  id: Generated<number>;
  provider: string;
  task_id: string;
  slash_id: number | null;
  /** 1: the slash was still pending and is withdrawn (no epoch applies it). */
  withdrawn: number;
  /** Base units already slashed on chain that the provider is owed (decimal); '0' if withdrawn. */
  compensation: string;
  reason: string;
  evidence: string;
  created_at: number;
};

/**
 * What an overturned verdict owes (0024, work/reviewCompensations.ts): one row per payment, paid
 * once by the `compensation` ledger entry `ref` when the funders' seized stake covers it.
 */
export type ReviewCompensationsTable = {
  /** The ledger entry's ref: `review:<taskId>:<slash|reward|refund>[:<provider>]`. */
  ref: string;
  part: 'slash' | 'reward' | 'refund' | 'reopened' | 'check';
  task_id: string;
  job_id: string | null;
  /** The account credited (`provider:<a>:earnings` or `provider:<client>:refunds`). */
  payee: string;
  /** Base units (decimal). */
  amount: string;
  /** JSON string[]: providers whose `slashed` account funds it, in order. */
  funders: string;
  /** JSON: the entry's memo (the evidence a validator re-checks). */
  memo: string;
  created_at: number;
  paid_epoch: number | null;
  paid_at: number | null;
  /** When an owed payment its funders' applied slashes never covered was closed (0025, the
   * deadline): what they covered was paid, the rest lapsed. */
  lapsed_at: Generated<number | null>;
};

/** The commitment a provider signed (EIP-712 TaskCommitment) before revealing its output. */
/** One secret audit seed per epoch (verification/auditSeeds.ts). */
export type EpochSeedsTable = {
  epoch: number;
  /** 32 random bytes, hex; secret until revealed. */
  seed: string;
  /** sha256 of the seed (0x hex), published two epochs ahead. */
  commitment: string;
  /** The epoch whose evidence bundle revealed it; null while secret. */
  revealed_in: number | null;
};
/** One audit draw of a task's primary execution. */
export type AuditDrawsTable = {
  task_id: string;
  provider: string;
  epoch: number;
  /** JSON numbers, exactly as compared. */
  rate: string;
  draw: string;
  audited: number;
  other_online: number;
  /** JSON `{ reward, honestCost, slashable }` (decimal strings) the rate was bounded with (0020). */
  economics: Generated<string | null>;
  /** JSON `{ at, unitReward, valueReward? }`: the rest of what the rate was computed with (0026). */
  basis: Generated<string | null>;
};
/**
 * One change of a provider's reputation (0026, docs/validators.md "Audit rates and reputation"):
 * an outcome at `at`, a reinstatement (`detail`: `{ before, faultAt }`), or where the journal starts
 * (`state`, `detail`: `{ state }`); `cause`: a timeout's (JSON TimeoutCause, 0031); `task_id`: its
 * task (0057; null: none or older); `reported_in`: the epoch whose bundle reported it (null: not yet).
 */
export type ReputationJournalTable = {
  id: Generated<number>;
  provider: string;
  kind: string;
  at: number;
  detail: string | null;
  cause: Generated<string | null>;
  task_id: Generated<string | null>;
  reported_in: number | null;
};
export type TaskCommitmentsTable = {
  assignment_id: string;
  task_id: string;
  provider: string;
  commitment: string;
  issued_at: number;
  signature: string;
  created_at: number;
};

/** A sensor device (docs/sensors.md): its own key, owned by a provider account, at a claimed place. */
export type SensorDevicesTable = {
  address: string;
  owner: string;
  /** Station model (src/sensors/stationModels.ts), e.g. `ws1000`. */
  model: string;
  lat: number;
  lon: number;
  /** JSON: the owner's signed DeviceRegistration as sent. */
  registration: string;
  /** Highest batch sequence stored; a batch must carry a higher one (-1: none yet). */
  last_sequence: Generated<number>;
  last_seen: number | null;
  readings_total: Generated<number>;
  registered_at: number;
};

/** One signed batch of readings as accepted (id: its EIP-712 digest). */
export type SensorBatchesTable = {
  id: string;
  device: string;
  sequence: number;
  issued_at: number;
  received_at: number;
  /** Position the device reported with the batch (GPS), if any. */
  lat: number | null;
  lon: number | null;
  readings: number;
  /** Readings stored (the rest were duplicates of stored ones). */
  stored: number;
  source: 'mqtt' | 'http';
  /** The readings' digest the device signed, and its signature (0020; null before). */
  payload_hash: Generated<string | null>;
  signature: Generated<string | null>;
  /** The epoch whose evidence bundle reported the batch (0020). */
  reported_in: Generated<number | null>;
};

/** One reading; (device, variable, t) is unique: a duplicate is dropped. */
export type SensorReadingsTable = {
  device: string;
  variable: string;
  t: number;
  value: number;
  /** 0 passed the ingest checks; 1 out of the station model's range (OBC); 2 jump from the previous reading. */
  flag: number;
};

/** Quality of one device over a window (`day` or `epoch`): score = data score × location score. */
export type SensorScoresTable = {
  device: string;
  kind: 'day' | 'epoch';
  window_start: number;
  window_end: number;
  data_score: number;
  location_score: number;
  score: number;
  /** JSON string[]: at-sea, out-of-range, teleport, far-from-claim, copy, indoor, spatial-outlier. */
  flags: string;
  /** JSON: per-check figures (why the score is what it is). */
  detail: string;
  computed_at: number;
};

/** A paid dataset download (the charge is the ledger entry `dataset:<id>`). */
export type SensorPurchasesTable = {
  id: string;
  client: string;
  nonce: string;
  query: string;
  readings: number;
  amount: string;
  created_at: number;
  /** JSON `{ maxCost, issuedAt, signature }` of the client's DatasetRequest (0020). */
  auth: Generated<string | null>;
  /** JSON `{ [owner]: readings }`: whose readings were sold (0020). */
  owners: Generated<string | null>;
};

export type Database = {
  blobs: BlobsTable;
  blob_uploads: BlobUploadsTable;
  provider_uploads: ProviderUploadsTable;
  jobs: JobsTable;
  job_progress: { job_id: string; tasks_done: number; updated_at: number }; // 0059, jobs/jobProgress.ts
  tasks: TasksTable;
  assignments: AssignmentsTable;
  providers: ProvidersTable;
  events: EventsTable;
  task_verifications: TaskVerificationsTable;
  task_executions: TaskExecutionsTable;
  verification_faults: VerificationFaultsTable;
  slashes: SlashesTable;
  ledger_entries: LedgerEntriesTable;
  ledger_postings: LedgerPostingsTable;
  ledger_balances: LedgerBalancesTable;
  provider_sessions: ProviderSessionsTable;
  coordinator_replicas: CoordinatorReplicasTable;
  prices: PricesTable;
  epochs: EpochsTable;
  market_meta: MarketMetaTable;
  capability_proofs: CapabilityProofsTable;
  canary_tasks: CanaryTasksTable;
  canary_assignments: CanaryAssignmentsTable;
  canary_holds: CanaryHoldsTable;
  review_check_bases: ReviewCheckBasesTable;
  shadow_jobs: ShadowJobsTable;
  shadow_pending: ShadowPendingTable;
  public_reputations: PublicReputationTable;
  canary_sources: CanarySourcesTable;
  canary_reviews: CanaryReviewsTable;
  fault_reversals: FaultReversalsTable;
  review_compensations: ReviewCompensationsTable;
  output_revocations: OutputRevocationsTable;
  reopened_outputs: ReopenedOutputsTable;
  task_commitments: TaskCommitmentsTable;
  epoch_seeds: EpochSeedsTable;
  audit_draws: AuditDrawsTable;
  reputation_journal: ReputationJournalTable;
  sensor_devices: SensorDevicesTable;
  sensor_batches: SensorBatchesTable;
  sensor_readings: SensorReadingsTable;
  sensor_scores: SensorScoresTable;
  sensor_purchases: SensorPurchasesTable;
  epoch_evidence: EpochEvidenceTable;
  train_jobs: TrainJobsTable;
  train_blobs: TrainBlobsTable;
  render_audit_regions: RenderAuditRegionsTable;
  stake_locks: StakeLocksTable;
  blob_chunks: BlobChunksTable;
};

/**
 * Stake locked for one lease (0019): `amount` (decimal base units) = k × the task's pay, `locked`
 * while the lease is open, then `released` by the verdict or `slashed` when the verdict faults it.
 */
export type StakeLocksTable = {
  assignment_id: string;
  provider: string;
  task_id: string;
  job_id: string;
  amount: string;
  status: 'locked' | 'released' | 'slashed';
  created_at: number;
  settled_at: number | null;
};

/** The region a render auditor was asked to render (JSON `[x0, y0, x1, y1]`, frame and task-image pixels). */
export type RenderAuditRegionsTable = {
  assignment_id: string;
  task_id: string;
  region: string;
  crop: string;
  /** The task's size in pixels (0029; null before): billing sizes the auditor's units with it. */
  task_pixels: number | null;
  created_at: number;
};

/** A train.diloco job's outer state after its last closed round (docs/training.md). */
export type TrainJobsTable = {
  job_id: string;
  /** The round whose tasks are out (R once the job finished). */
  round: number;
  weights_cid: string;
  momentum_cid: string;
  last_update_cid: string;
  /** JSON array of { round, loss, validation? } per closed round. */
  history: string;
  final_cid: string | null;
};

/** A blob a training job references: `task_id` '' for the job's own (shards, weights, state). */
export type TrainBlobsTable = {
  job_id: string;
  task_id: string;
  cid: string;
  /** shard | validation | weights | state | descriptor | final */
  role: string;
};
