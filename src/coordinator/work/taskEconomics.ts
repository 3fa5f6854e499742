/**
 * Per-task audit economics (docs/verification.md "The economic guarantee"): the audit draw of a
 * task compares with `p ≥ C_task / (R_task + F)`, where `R_task` and `C_task` scale with the size
 * of the task and `F` is what a proven fault really slashes. A cheater's saving grows with the
 * task; the slash does not (it is capped by stake), so large tasks must be audited more.
 *
 * The size of a task is estimated before it runs from its own job: the median billed units of
 * the job's executions that a verdict verified (several providers agreed, so no single provider's
 * self-reported usage decides), and the job's worst case (timeout × billed cores) until one
 * exists. Without a market every task is priced with the coordinator's fixed placeholders.
 */
import type { Kysely } from 'kysely';
import type { Usage } from '../../protocol/schemas.ts';
import { CPU_CLASS } from '../market/constants.ts';
import { billedUnitsMilli } from '../market/priceExecution.ts';
import type { Database } from '../store/schema.ts';
import { lockAmount } from './stakeLocks.ts';
import type { JobInfo, WorkDeps, WorkState } from './workState.ts';

/** Verified executions of a job read for its size estimate. */
const SAMPLE = 64;
/** How long a job's estimate is reused before it is read again. */
const CACHE_MS = 30_000;

const cache = new WeakMap<WorkState, Map<string, { at: number; unitsMilli: bigint }>>();

/**
 * The median of bigints (the lower middle one for an even count).
 *
 * @example
 * medianBig([3n, 1n, 2n]); // 2n
 */
export function medianBig(xs: readonly bigint[]): bigint | undefined {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * A task's size in billed milli-units (cpu-core-milliseconds, gpu-milliseconds): the median of
 * the job's verified executions, else the job's worst case.
 *
 * @example
 * const units = await taskUnitsMilli(state, deps, trx, job);
 */
export async function taskUnitsMilli(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
): Promise<bigint> {
  let perJob = cache.get(s);
  if (!perJob) {
    perJob = new Map();
    cache.set(s, perJob);
  }
  const hit = perJob.get(job.id);
  if (hit && d.now() - hit.at < CACHE_MS) return hit.unitsMilli;
  const cls = job.spec.resources.gpu ? 'gpu' : CPU_CLASS;
  const timeoutSec = job.spec.taskTimeoutSec;
  const rows = await trx
    .selectFrom('task_executions as te')
    .innerJoin('task_verifications as v', 'v.task_id', 'te.task_id')
    .select('te.result')
    .where('v.job_id', '=', job.id)
    .where('v.status', '=', 'accepted')
    .where('v.verdict', 'like', '%"verified":true%')
    .limit(SAMPLE)
    .execute();
  const units = rows.map((r) =>
    billedUnitsMilli(cls, (JSON.parse(r.result) as { usage: Usage }).usage, timeoutSec),
  );
  const worst = billedUnitsMilli(
    cls,
    { wallMs: timeoutSec * 1000, cpuMs: Number.MAX_SAFE_INTEGER, peakRssBytes: 0 },
    timeoutSec,
  );
  const unitsMilli = medianBig(units) ?? worst;
  perJob.set(job.id, { at: d.now(), unitsMilli });
  return unitsMilli;
}

/**
 * What the audit draw of one task is priced with: `reward` R_task and `honestCost` C_task scaled
 * by the task's size (the coordinator's figures are per reference unit when a market prices
 * work), `slashable` F the amount a proven fault is slashed.
 *
 * @example
 * const econ = await taskEconomics(state, deps, trx, job);
 * audits.shouldAudit(provider, { taskId, ...econ });
 */
export async function taskEconomics(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: (JobInfo & { id: string }) | undefined,
): Promise<{ reward: bigint; honestCost: bigint; slashable: bigint }> {
  if (!d.market || !job)
    return { reward: s.econ.reward, honestCost: s.econ.honestCost, slashable: s.slashable };
  const units = await taskUnitsMilli(s, d, trx, job);
  // At least one reference unit: a tiny task is never priced below the old global figures.
  const scale = (x: bigint) => {
    const v = (units * x) / 1000n;
    return v > x ? v : x;
  };
  // F_task: what a fault on this task slashes, the stake its lease locked (stakeLocks.ts).
  const reward = scale(s.econ.reward);
  return { reward, honestCost: scale(s.econ.honestCost), slashable: lockAmount(reward) };
}
