/**
 * Which tasks a client-signed job has (docs/validators.md "Tasks of a job"): task `k` of job `j` is
 * `taskIdOf(j, k)` (protocol/ids.ts) for `k` below the job's task count — its inputs' count for an
 * `onnx.infer` or `blender.render` job, rounds × workers for a `train.diloco` job
 * (training/trainBlobs.ts `taskIndex`). A `TaskResult` does not sign its job, so without this
 * binding a coordinator could charge a provider's signed result to any other client's signed job
 * (review s12, F3). A canary runs its source task under a shadow job (jobs/shadowJobs.ts) that is
 * never charged and never in a bundle's jobs: its statements are bound by `checkCanaryFaults`.
 */
import type { Hex } from 'viem';
import type { EpochFacts, JobFact } from '../coordinator/settlement/epochFacts.ts';
import { taskIdOf } from '../protocol/ids.ts';
import type { FactDispute } from './checkFacts.ts';

/** How many tasks a signed spec has (0: a spec this check does not know). */
export function taskCountOf(spec: unknown): number {
  const s = (spec ?? {}) as { kind?: unknown; inputs?: unknown; rounds?: unknown; workers?: unknown };
  if (s.kind === 'train.diloco')
    return Number.isSafeInteger(s.rounds) && Number.isSafeInteger(s.workers)
      ? (s.rounds as number) * (s.workers as number)
      : 0;
  return Array.isArray(s.inputs) ? s.inputs.length : 0;
}

/**
 * A lookup of the bundle's jobs' tasks: `of(jobId, taskId)` is true when the task is one of the
 * job's, false when it is not, undefined when the job is not in the bundle. Each job's ids are
 * derived once, on first use.
 *
 * @example
 * const tasks = tasksOfJobs(facts.jobs);
 * if (tasks.of(charge.jobId, charge.taskId) !== true) refuse();
 */
export function tasksOfJobs(jobs: readonly JobFact[]): {
  of: (jobId: string, taskId: string) => boolean | undefined;
} {
  const specs = new Map(jobs.map((j) => [j.jobId.toLowerCase(), j]));
  const derived = new Map<string, Set<string>>();
  return {
    of(jobId, taskId) {
      const key = jobId.toLowerCase();
      const job = specs.get(key);
      if (!job) return undefined;
      let ids = derived.get(key);
      if (!ids) {
        ids = new Set();
        const n = taskCountOf(job.spec);
        for (let k = 0; k < n; k++) ids.add(taskIdOf(job.jobId as Hex, k).toLowerCase());
        derived.set(key, ids);
      }
      return ids.has(taskId.toLowerCase());
    },
  };
}

/**
 * Every task the bundle names with its job is a task of that job: each charge (its job must be in
 * the bundle: checkFacts.ts), each ended lease and so each unpaid result on it (when its job is in
 * the bundle: a lease of a job not charged this epoch names one the bundle need not carry), and
 * each draw and slash about a task the bundle charges (their task names no job of its own: the
 * charge's binds it). Null when every one holds.
 *
 * @example
 * const wrong = checkTaskJobs(bundle.facts);
 */
export function checkTaskJobs(facts: EpochFacts): FactDispute | null {
  const tasks = tasksOfJobs(facts.jobs);
  const bad = (fact: string, claimed: string): FactDispute => ({
    fact,
    claimed,
    recomputed: 'a task of the job (taskIdOf(job, k), k below its task count)',
  });
  for (const c of facts.charges)
    if (tasks.of(c.jobId, c.taskId) !== true)
      return bad(`charge[${c.ref}].task`, `${c.taskId} of job ${c.jobId}`);
  for (const l of facts.endedLeases ?? [])
    if (tasks.of(l.job, l.task) === false)
      return bad(`endedLease[${l.lease}].task`, `${l.task} of job ${l.job}`);
  // An unpaid result cites its lease; the lease's job must be the job the bundle pays the task for.
  const leaseJob = new Map((facts.endedLeases ?? []).map((l) => [l.lease.toLowerCase(), l]));
  const chargedJob = new Map(facts.charges.map((c) => [c.taskId.toLowerCase(), c.jobId.toLowerCase()]));
  for (const u of facts.unpaidResults ?? []) {
    const l = leaseJob.get(u.lease.toLowerCase());
    const paidFor = chargedJob.get(u.task.toLowerCase());
    if (l && paidFor && l.job.toLowerCase() !== paidFor)
      return bad(`unpaidResult[${u.lease}].task`, `${u.task} of job ${l.job}, paid for job ${paidFor}`);
  }
  return null;
}
