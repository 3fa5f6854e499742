/**
 * The strategic harness's accounting (strategic.ts): verification overhead, by cause and over a
 * window of the run, read from what the live work loop stored.
 *
 * **Overhead** is compute: every execution beyond the one a completed task's client needs, each
 * weighted by its task's size (a 60-unit task's audit costs 60 small ones'), over the compute of
 * one execution per completed task. It counts audits, tie-breakers, re-runs of a primary,
 * canaries (at their source task's size) and every replica the policy adds, and every execution
 * of a task that did not complete (wasted). A client that asks for `redundant(k)` buys and pays
 * for k executions: its k − 1 extra replicas are reported apart (`requestedReplicas`) and left out
 * of `overhead`; `overheadWithRequested` counts them too. `overheadExecutions` is the same
 * quotient counted in executions, not compute (the unit of the earlier figures).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../src/coordinator/store/schema.ts';

/** Cumulative counters at one moment of a run (strategic.ts takes one at each checkpoint). */
export type OverheadSnapshot = {
  /** Executions handed out (assign messages, canaries included) and their compute in units. */
  executions: number;
  executedUnits: number;
  /** Completed real tasks and their compute (one execution each). */
  completed: number;
  completedUnits: number;
  /** Executions by role (from the verification logs), in count and in units. */
  roles: Record<Role, number>;
  roleUnits: Record<Role, number>;
  /** Extra executions clients asked for: (k − 1) per completed redundant(k) task, and in units. */
  requested: number;
  requestedUnits: number;
  canaries: number;
};

type Role = 'primary' | 'replica' | 'auditor' | 'tiebreaker';
const ROLES: readonly Role[] = ['primary', 'replica', 'auditor', 'tiebreaker'];
const zero = () => ({ primary: 0, replica: 0, auditor: 0, tiebreaker: 0 });

/**
 * Reads the counters now. `sizeOfJob` gives each job's task size in units; `executed` is the
 * harness's own tally of executions handed out (it sees every assign, canaries included).
 *
 * @example
 * const snap = await overheadSnapshot(f.db, sizeOfJob, { executions, executedUnits });
 */
export async function overheadSnapshot(
  db: Kysely<Database>,
  sizeOfJob: ReadonlyMap<string, number>,
  executed: { executions: number; executedUnits: number },
): Promise<OverheadSnapshot> {
  const roles = zero();
  const roleUnits = zero();
  let requested = 0;
  let requestedUnits = 0;
  const done = new Set(
    (await db.selectFrom('tasks').select('id').where('status', '=', 'completed').execute()).map((t) => t.id),
  );
  let completedUnits = 0;
  for (const v of await db
    .selectFrom('task_verifications')
    .select(['task_id', 'job_id', 'policy', 'log'])
    .execute()) {
    const size = sizeOfJob.get(v.job_id) ?? 1;
    for (const e of JSON.parse(v.log) as { type: string; role?: Role }[]) {
      if (e.type !== 'assign' || !e.role || !ROLES.includes(e.role)) continue;
      roles[e.role]++;
      roleUnits[e.role] += size;
    }
    if (!done.has(v.task_id)) continue;
    completedUnits += size;
    const policy = JSON.parse(v.policy) as { kind?: string; k?: number };
    if (policy.kind === 'redundant' && (policy.k ?? 1) > 1) {
      requested += policy.k! - 1;
      requestedUnits += (policy.k! - 1) * size;
    }
  }
  const canaries = Number(
    (
      await db
        .selectFrom('canary_assignments')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
  return {
    ...executed,
    completed: done.size,
    completedUnits,
    roles,
    roleUnits,
    requested,
    requestedUnits,
    canaries,
  };
}

/** The overhead figures (see the module comment). */
export type OverheadFigures = {
  overhead: number;
  overheadExecutions: number;
  overheadWithRequested: number;
  /** Client-requested replicas (k − 1 per redundant(k) task) in units of compute, over useful compute. */
  requestedReplicas: number;
  /** Compute by cause over useful compute; `replicas` are those the policy added beyond the request. */
  overheadBy: { replicas: number; audits: number; tiebreakers: number; reruns: number; canaries: number };
  completed: number;
  executions: number;
};

/**
 * Overhead between two snapshots (from the start of the run when `from` is absent).
 *
 * @example
 * const steady = overheadBetween(end, half); // the second half of the run
 */
export function overheadBetween(to: OverheadSnapshot, from?: OverheadSnapshot): OverheadFigures {
  const d = (f: (s: OverheadSnapshot) => number) => f(to) - (from ? f(from) : 0);
  const useful = d((s) => s.completedUnits);
  const usefulN = d((s) => s.completed);
  const share = (x: number) => (useful === 0 ? 0 : x / useful);
  const executedUnits = d((s) => s.executedUnits);
  const requestedUnits = d((s) => s.requestedUnits);
  // Every primary beyond the first of a task is a re-run (one per task that completed).
  const primaries = d((s) => s.roleUnits.primary);
  const replicas = d((s) => s.roleUnits.replica);
  const audits = d((s) => s.roleUnits.auditor);
  const tiebreakers = d((s) => s.roleUnits.tiebreaker);
  // Replicas are the first execution of a redundant task too: what is not a primary, audit or
  // tie-breaker is canaries (their source's size) or the waste of tasks that never completed.
  const attributed = primaries + replicas + audits + tiebreakers;
  const policyReplicas = Math.max(0, replicas - requestedUnits - redundantFirsts(to, from));
  return {
    overhead: share(executedUnits - useful - requestedUnits),
    overheadExecutions:
      usefulN === 0 ? 0 : (d((s) => s.executions) - usefulN - d((s) => s.requested)) / usefulN,
    overheadWithRequested: share(executedUnits - useful),
    requestedReplicas: share(requestedUnits),
    overheadBy: {
      replicas: share(policyReplicas),
      audits: share(audits),
      tiebreakers: share(tiebreakers),
      reruns: share(Math.max(0, primaries + redundantFirsts(to, from) - useful)),
      canaries: share(Math.max(0, executedUnits - attributed)),
    },
    completed: usefulN,
    executions: d((s) => s.executions),
  };
}

/** Units of the first replica of each completed redundant task (its "one execution"). */
function redundantFirsts(to: OverheadSnapshot, from?: OverheadSnapshot): number {
  // requestedUnits = (k − 1) × size per redundant task; with k = 3 throughout the harness the
  // first replica is half of that. Kept general: read k from the ratio the harness submits.
  const k = REDUNDANT_K;
  const d = to.requestedUnits - (from?.requestedUnits ?? 0);
  return d / (k - 1);
}

/** The k of the harness's redundant jobs (strategic.ts submits redundant(3)). */
export const REDUNDANT_K = 3;
