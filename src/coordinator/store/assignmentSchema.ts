import type { Generated } from 'kysely';

/** An assignment's lease state. */
export type AssignmentStatus = 'leased' | 'completed' | 'failed' | 'expired';

/** One execution of a task on one provider (a lease). Kept out of schema.ts for that file's size. */
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
  /** The provider's signed failure report (JSON `{ reasonHash, issuedAt, signature }`, 0031). */
  failure_auth: Generated<string | null>;
  reported_in: Generated<number | null>; // the bundle that reported the ended lease (0037; 0: before)
  /**
   * The class the lease is billed in, fixed when it was made (0052): the provider's proven GPU
   * class for a GPU job, else `cpu`. Null on leases from before it (billed from the provider's
   * session or stored hardware, as then).
   */
  lease_class: Generated<string | null>;
  /**
   * The most this execution may bill, in milli-units (0063): `BILLED_SIZE_SLACK` × the job's
   * verified task size when it was leased (work/taskEconomics.ts `leaseSizeCap`), a decimal
   * string. Null: no verified size below the job's worst case then (or a lease from before it).
   */
  size_cap_milli: Generated<string | null>;
  /**
   * The salt the lease id was derived with (0066): id = keccak256(abi.encode(task_id, provider,
   * salt)), protocol/taskRef.ts `boundLeaseId`. Never sent to the provider; published only in the
   * epoch's evidence. Null on leases from before it (random ids).
   */
  lease_salt: Generated<string | null>;
};
