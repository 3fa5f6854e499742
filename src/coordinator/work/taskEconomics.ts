/**
 * Per-task audit economics (docs/verification.md "The economic guarantee"): the audit draw of a
 * task compares with `p ≥ C_task / (R_task + F)`, where `R_task` and `C_task` scale with the size
 * of the task and `F` is what a proven fault really slashes. A cheater's saving grows with the
 * task; the slash does not (it is capped by stake), so large tasks must be audited more.
 *
 * The size of a task is estimated before it runs from its own job: the median billed units of
 * the job's executions that a verdict verified and that agreed with it (several providers agreed, so
 * no single provider's self-reported usage decides; a faulted execution's report never counts);
 * until one exists, the largest verified size of the last `MODEL_SAMPLE` tasks of the same model
 * (client, kind, model, render settings, gpu) this coordinator saw, capped by the
 * job's worst case (timeout × billed cores), which is used when the model has no history either.
 * A verdict then re-prices the task with its own agreeing executions (the largest of their
 * reports, so allies' tiny usage reports cannot shrink a cheater's slash): a fault slashes
 * `min(lock, k × R_task)` (`slashCapOf`), so a first task locked at the worst case never slashes
 * more than k × what the task really cost. Without a market every task is priced with the
 * coordinator's fixed placeholders.
 */
import type { Kysely } from 'kysely';
import type { Usage } from '../../protocol/schemas.ts';
import { BILLED_SIZE_SLACK, CPU_CLASS } from '../market/constants.ts';
import { billedUnitsMilli } from '../market/priceExecution.ts';
import type { Database } from '../store/schema.ts';
import { rewardForUnits } from '../verification/renderValue.ts';
import { lockAmount } from './stakeLocks.ts';
import type { JobInfo, WorkDeps, WorkState } from './workState.ts';

/** Verified executions of a job read for its size estimate. */
const SAMPLE = 64;
/** How long a job's estimate is reused before it is read again. */
const CACHE_MS = 30_000;
/** Verified task sizes kept per model for the estimate of a job with none of its own. */
export const MODEL_SAMPLE = 64;

const cache = new WeakMap<WorkState, Map<string, { at: number; unitsMilli: bigint }>>();
const modelSizes = new WeakMap<WorkState, Map<string, bigint[]>>();

/** What tasks of one model are compared by: kind, model and whether on a GPU. */
function modelKey(job: JobInfo): string {
  const model = 'model' in job.spec ? String(job.spec.model) : '';
  // A render task's size follows its settings, not just its scene: a cheap preview job (few
  // samples, small frames) must not lower the recorded size of a large job of the same scene.
  const r = job.spec.kind === 'blender.render' ? job.spec.render : undefined;
  const settings = r ? `:${r.width}x${r.height}/${r.tiles.x}x${r.tiles.y}:s${r.samples}:${r.format}` : '';
  // Per client: sizes are reported usage, so another account's tiny tasks of the same model (an
  // attacker's, say) must not lower the stake at risk and the audit rate of this client's job.
  return `${job.client.toLowerCase()}:${job.spec.kind}:${model}${settings}:${job.spec.resources.gpu ? 'gpu' : 'cpu'}`;
}

/**
 * Records the verified size of one task of `job`'s model (the estimate for the model's next jobs)
 * and drops the job's cached estimate (its next task is priced with its own verified size).
 *
 * @example
 * noteVerifiedSize(state, { ...job, id: jobId }, 12_000n);
 */
export function noteVerifiedSize(s: WorkState, job: JobInfo & { id: string }, unitsMilli: bigint): void {
  // The job's own estimate is stale now that it has a verified size: read it again.
  cache.get(s)?.delete(job.id);
  let m = modelSizes.get(s);
  if (!m) {
    m = new Map();
    modelSizes.set(s, m);
  }
  const key = modelKey(job);
  const xs = m.get(key) ?? [];
  xs.push(unitsMilli);
  if (xs.length > MODEL_SAMPLE) xs.shift();
  m.set(key, xs);
}

/** The largest verified size of the model's recent tasks, if any. */
function modelEstimate(s: WorkState, job: JobInfo): bigint | undefined {
  const xs = modelSizes.get(s)?.get(modelKey(job));
  if (!xs || xs.length === 0) return undefined;
  return xs.reduce((a, b) => (a > b ? a : b));
}

/**
 * The size of a task as its agreeing executions billed it: the upper median of their billed units
 * (undefined without one). Pure; the verdict's slash cap and the model estimate use it.
 *
 * The upper median, not the lower: usage is self-reported, and with two agreeing executions (a
 * trusted checker and a co-executor) the lower median is the smaller report, so an ally of the
 * faulted provider that computed honestly but reported tiny usage would shrink the cheater's slash
 * cap to one unit. With the upper median a low report lowers the size only when low reporters are
 * more than half of the agreeing executions; a high report can only raise the cap, which never
 * exceeds the lease's lock (`min(lock, cap)`).
 *
 * @example
 * verifiedUnitsMilli(job, executions.map((e) => JSON.parse(e.result).usage));
 */
export function verifiedUnitsMilli(job: JobInfo, usages: readonly Usage[]): bigint | undefined {
  const cls = job.spec.resources.gpu ? 'gpu' : CPU_CLASS;
  return upperMedianBig(usages.map((u) => billedUnitsMilli(cls, u, job.spec.taskTimeoutSec)));
}

/**
 * The size a fault's slash cap is priced from: the largest billed units among the agreeing
 * executions (undefined without one). Pure. Not a median: allies of a cheater that computed the
 * right answer and reported tiny usage can be most of the agreeing executions; one honest report
 * then still sizes the cap. A high report only raises the cap, which the lease's lock bounds.
 *
 * @example
 * slashSizeMilli(job, [usage(10), usage(10), usage(30_000)]); // 30_000n
 */
export function slashSizeMilli(job: JobInfo, usages: readonly Usage[]): bigint | undefined {
  const cls = job.spec.resources.gpu ? 'gpu' : CPU_CLASS;
  const units = usages.map((u) => billedUnitsMilli(cls, u, job.spec.taskTimeoutSec));
  return units.length === 0 ? undefined : units.reduce((a, b) => (a > b ? a : b));
}

/**
 * The most a fault on a verified task may slash: k × R_task with R_task priced from the agreeing
 * executions' own billed size (`min(lock, this)` is slashed; the rest of the lock is released).
 *
 * @example
 * const cap = slashCapOf(state.econ.reward, units); // lockAmount(rewardForUnits(...))
 */
export function slashCapOf(unitReward: bigint, unitsMilli: bigint): bigint {
  return lockAmount(rewardForUnits(unitReward, unitsMilli));
}

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
 * The median of bigints, the upper middle one for an even count (the larger of two).
 *
 * @example
 * upperMedianBig([9n, 1n, 4n, 2n]); // 4n
 */
export function upperMedianBig(xs: readonly bigint[]): bigint | undefined {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * A task's size in billed milli-units (cpu-core-milliseconds, gpu-milliseconds): the median of
 * the job's verified executions that agreed with their verdict (faulted ones left out), else the
 * model's recent verified size (same client, kind, model, render settings and device), else the
 * job's worst case.
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
    .select(['te.result', 'te.provider', 'v.verdict'])
    .where('v.job_id', '=', job.id)
    .where('v.status', '=', 'accepted')
    // Verified, or agreed among untrusted executions (accepted `unverified` with two or more of them:
    // a network with no trusted provider online still sizes its tasks as before).
    .where((eb) =>
      eb.or([
        eb('v.verdict', 'like', '%"verified":true%'),
        eb('v.verdict', 'like', '%"outcome":"unverified"%"outcome":"unverified"%'),
      ]),
    )
    .limit(SAMPLE)
    .execute();
  // Only executions that agreed with their task's verdict: a faulted execution's usage report (a
  // cheater's, lazy and tiny, or inflated) says nothing about what the task costs.
  const units = rows
    .filter((r) => agreed(r.verdict, r.provider))
    .map((r) => billedUnitsMilli(cls, (JSON.parse(r.result) as { usage: Usage }).usage, timeoutSec));
  const worst = worstUnitsMilli(job);
  const fromModel = modelEstimate(s, job);
  const unitsMilli = medianBig(units) ?? (fromModel !== undefined && fromModel < worst ? fromModel : worst);
  perJob.set(job.id, { at: d.now(), unitsMilli });
  return unitsMilli;
}

/**
 * The most one execution of `job` leased now may bill, in milli-units: `BILLED_SIZE_SLACK` × the
 * task size {@link taskUnitsMilli} estimates from verified executions (the job's own, else its
 * model's), stored with the lease (`assignments.size_cap_milli`) and applied by billing
 * (priceExecution.ts `billedUnitsMilli`). Undefined where it would not bind: no verified size yet
 * (the estimate is the job's worst case) or slack × size at or above that worst case, and render
 * jobs: a frame's cost varies with its content (an animation's heavy frames can cost many times the
 * job's median frame), so a cap from the median would cut honest heavy frames. Usage is
 * self-reported: without it a lone unaudited provider holding its result back until the deadline
 * billed its whole lease (docs/verification.md, "Usage capped by the verified size").
 *
 * @example
 * const cap = await leaseSizeCap(state, deps, db, { ...job, id: jobId }); // 4 × size, or undefined
 */
export async function leaseSizeCap(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
): Promise<bigint | undefined> {
  if (job.spec.kind === 'blender.render') return undefined;
  const cap = (await taskUnitsMilli(s, d, trx, job)) * BILLED_SIZE_SLACK;
  return cap < worstUnitsMilli(job) ? cap : undefined;
}

/** A task's worst case in billed milli-units: its timeout × the billed cores of its device. */
function worstUnitsMilli(job: JobInfo): bigint {
  const timeoutSec = job.spec.taskTimeoutSec;
  return billedUnitsMilli(
    job.spec.resources.gpu ? 'gpu' : CPU_CLASS,
    { wallMs: timeoutSec * 1000, cpuMs: Number.MAX_SAFE_INTEGER, peakRssBytes: 0 },
    timeoutSec,
  );
}

/** Whether `provider` agreed with a stored verdict (JSON): {@link agreeingProviders}. */
function agreed(verdict: string | null, provider: string): boolean {
  if (!verdict) return false;
  const v = JSON.parse(verdict) as { outcomes?: { provider: string; outcome: string }[] };
  return agreeingProviders(v.outcomes ?? []).has(provider.toLowerCase());
}

/**
 * The providers (lower case) of a verdict's agreeing executions: its `valid` ones, or, in a
 * verdict accepted `unverified` with two or more `unverified` executions (an agreeing group with
 * no trusted member), those. A lone unverified execution agreed with nobody. Pure.
 *
 * @example agreeingProviders(verdict.outcomes) // Set { '0xab…', '0xcd…' }
 */
export function agreeingProviders(outcomes: readonly { provider: string; outcome: string }[]): Set<string> {
  const valid = outcomes.filter((o) => o.outcome === 'valid');
  const unverified = outcomes.filter((o) => o.outcome === 'unverified');
  return new Set(
    [...valid, ...(unverified.length >= 2 ? unverified : [])].map((o) => o.provider.toLowerCase()),
  );
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
  const scale = (x: bigint) => rewardForUnits(x, units);
  // F_task: what a fault on this task slashes, the stake its lease locked (stakeLocks.ts).
  const reward = scale(s.econ.reward);
  return { reward, honestCost: scale(s.econ.honestCost), slashable: lockAmount(reward) };
}
