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
