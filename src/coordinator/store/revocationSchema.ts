/** Row type of `output_revocations` (kept apart from schema.ts, which is at the file-size limit). */
/**
 * A delivered output found wrong after delivery (0036, work/recheckCaught.ts): two independent
 * trusted checks agreed with each other and not with it. `checked_by`: JSON array of the checkers.
 */
export type OutputRevocationsTable = {
  task_id: string;
  job_id: string;
  provider: string | null;
  revoked_cid: string;
  replacement_cid: string;
  review_id: string;
  checked_by: string;
  /** 1: a refund of the task's charges is owed to the client (reviewCompensations.ts). */
  refund: number;
  revoked_at: number;
};

/**
 * A running job's unchecked output reopened because its provider was faulted (0044,
 * work/reopenedPayback.ts): kept so that a fault reversed on review pays the provider for it when
 * the re-run agrees with it. `proof`: JSON of the reversal's evidence (null until the fault is
 * reversed); `outcome`: how it was settled (`owed`, `wrong`, `caught-again`, `unrun`, `unfunded`).
 */
export type ReopenedOutputsTable = {
  task_id: string;
  provider: string;
  job_id: string;
  fault_task_id: string;
  output_cid: string;
  reopened_at: number;
  proof: string | null;
  reinstated_at: number | null;
  settled_at: number | null;
  outcome: string | null;
};
