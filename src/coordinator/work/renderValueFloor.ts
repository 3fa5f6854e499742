/**
 * What the value floor of a `blender.render` task is priced with (docs/render.md, "Frame
 * sampling"). The value floor audits a task paying `R_task` at least at `R_task / (50 R)`
 * (auditPolicy.ts `valueAuditFloor`), and a task is priced at its job's worst case (timeout × 4
 * billed cores) until the job has verified sizes: with the default 600 s timeout that is 2,400
 * units, so every frame was audited whatever the sampling, and a job's frames are mostly drawn
 * before its first verdict. Here a render task is priced from an honest estimate instead:
 *
 * 1. the job's own verified frames: each one's size is the **largest** of its agreeing
 *    executions' billed units, a region auditor's scaled up from the region to the whole task
 *    (`renderFrameUnits`), and the job's estimate is the largest verified frame;
 * 2. else the same client's recent verified frames of the same scene and settings (`.blend`,
 *    resolution, samples, tiles, format, GPU: `renderSceneKey`), largest of the last jobs;
 * 3. else the worst case (only a job's first frames, drawn before any verdict of theirs).
 *
 * Usage is each executor's own report, so a cheater must not be able to make frames look cheap.
 * A verified frame is priced by the largest report of the providers that agreed on it, the
 * primary's whole-frame figure and the auditor's region figure scaled up (which over-states: a
 * region's fixed cost is scaled too), so a lone cheater, primary or auditor, never prices a frame
 * below what its honest counterpart measured; one honest verified frame of the job bounds the
 * estimate of all of its frames from below (largest, not median); another client's jobs never
 * count (per client, as taskEconomics.ts). The estimate is capped by the worst case. Only the
 * value floor uses it: the economic bound `C / (R + F)` and the stake locked stay on the recorded
 * economics (taskEconomics.ts), which validators recompute the bound from.
 */
import type { Kysely } from 'kysely';
import type { Usage } from '../../protocol/schemas.ts';
import { CPU_CLASS } from '../market/constants.ts';
import { billedUnitsMilli } from '../market/priceExecution.ts';
import type { Database } from '../store/schema.ts';
import { renderFrameUnits, renderWorstUnits, rewardForUnits } from '../verification/renderValue.ts';
import { agreeingProviders } from './taskEconomics.ts';
import type { JobInfo, WorkDeps, WorkState } from './workState.ts';

/** How long a job's estimate is reused before its verified frames are read again. */
const CACHE_MS = 5_000;
/** Verified executions of a job read for its estimate (the most recent first). */
const SAMPLE = 256;
/** Jobs per client and scene whose largest verified frame is kept for the next jobs. */
export const RENDER_SCENE_JOBS = 16;

type Region = [number, number, number, number];
/** A frame's size and the task it was measured on (what a validator re-derives it from). */
type Frame = { unitsMilli: bigint; task: string };
const jobCache = new WeakMap<WorkState, Map<string, { at: number; frame: Frame | undefined }>>();
const sceneSizes = new WeakMap<WorkState, Map<string, Map<string, Frame>>>();

/**
 * The client, scene and settings a render job's frames cost alike by: client, `.blend`,
 * resolution, samples, tiles, format and GPU (a 1-sample preview of a scene says nothing about
 * its 4K render).
 *
 * @example renderSceneKey(job) // '0xabc…:bafy…:1920x1080:64:1x1:png:cpu'
 */
export function renderSceneKey(job: JobInfo): string {
  if (job.spec.kind !== 'blender.render') return '';
  const r = job.spec.render;
  return [
    job.client.toLowerCase(),
    job.spec.model,
    `${r.width}x${r.height}`,
    r.samples,
    `${r.tiles.x}x${r.tiles.y}`,
    r.format,
    job.spec.resources.gpu ? 'gpu' : 'cpu',
  ].join(':');
}

/** The worst case of one task of `job`: timeout × billed cores. */
export function worstUnits(job: Pick<JobInfo, 'spec'>): bigint {
  return renderWorstUnits(job.spec.taskTimeoutSec, job.spec.resources.gpu);
}

/** The largest verified frame of the job and its task (undefined without one), read from the store. */
async function jobFrameUnits(
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
  worst: bigint,
): Promise<Frame | undefined> {
  if (job.spec.kind !== 'blender.render') return undefined;
  const r = job.spec.render;
  const taskPixels = (r.width * r.height) / (r.tiles.x * r.tiles.y);
  const cls = job.spec.resources.gpu ? 'gpu' : CPU_CLASS;
  const rows = await trx
    .selectFrom('task_executions as te')
    .innerJoin('task_verifications as v', 'v.task_id', 'te.task_id')
    .leftJoin('render_audit_regions as r', 'r.assignment_id', 'te.assignment_id')
    .select(['te.task_id', 'te.provider', 'te.result', 'v.verdict', 'r.region'])
    .where('v.job_id', '=', job.id)
    .where('v.status', '=', 'accepted')
    // Verified, or agreed among untrusted executions (accepted `unverified`: taskEconomics.ts).
    .where((eb) =>
      eb.or([
        eb('v.verdict', 'like', '%"verified":true%'),
        eb('v.verdict', 'like', '%"outcome":"unverified"%"outcome":"unverified"%'),
      ]),
    )
    .orderBy('te.task_id')
    .limit(SAMPLE)
    .execute();
  const perTask = new Map<string, Array<{ unitsMilli: bigint; regionPixels?: number }>>();
  for (const row of rows) {
    const verdict = JSON.parse(row.verdict ?? '{}') as {
      outcomes?: Array<{ provider: string; outcome: string }>;
    };
    const agreed = agreeingProviders(verdict.outcomes ?? []).has(row.provider.toLowerCase());
    if (!agreed) continue; // a faulty execution's report prices nothing
    const usage = (JSON.parse(row.result) as { usage: Usage }).usage;
    const unitsMilli = billedUnitsMilli(cls, usage, job.spec.taskTimeoutSec);
    let regionPixels: number | undefined;
    if (row.region) {
      const [x0, y0, x1, y1] = JSON.parse(row.region) as Region;
      regionPixels = (x1 - x0) * (y1 - y0);
    }
    const xs = perTask.get(row.task_id) ?? [];
    xs.push(regionPixels === undefined ? { unitsMilli } : { unitsMilli, regionPixels });
    perTask.set(row.task_id, xs);
  }
  let most: Frame | undefined;
  for (const [task, xs] of perTask) {
    const units = renderFrameUnits(xs, taskPixels, worst);
    if (units !== undefined && (most === undefined || units > most.unitsMilli))
      most = { unitsMilli: units, task };
  }
  return most;
}

/**
 * The size (billed milli-units) the value floor of a render task of `job` is priced with: its
 * job's largest verified frame, else the client's recent verified frames of the same scene and
 * settings, else the worst case. Cached per job for a few seconds.
 *
 * @example const units = await renderValueUnits(state, deps, trx, { ...job, id: jobId });
 */
export async function renderValueUnits(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
): Promise<bigint> {
  return (await renderValueFrame(s, d, trx, job)).unitsMilli;
}

/**
 * {@link renderValueUnits} with the verified frame (task id) the size was measured on; no task:
 * the job's worst case.
 *
 * @example const { unitsMilli, task } = await renderValueFrame(state, deps, trx, { ...job, id: jobId });
 */
export async function renderValueFrame(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
): Promise<{ unitsMilli: bigint; task?: string }> {
  const worst = worstUnits(job);
  let cache = jobCache.get(s);
  if (!cache) {
    cache = new Map();
    jobCache.set(s, cache);
  }
  let hit = cache.get(job.id);
  if (!hit || d.now() - hit.at >= CACHE_MS) {
    hit = { at: d.now(), frame: await jobFrameUnits(trx, job, worst) };
    cache.set(job.id, hit);
    if (cache.size > 1024) cache.delete(cache.keys().next().value as string);
  }
  const key = renderSceneKey(job);
  let scenes = sceneSizes.get(s);
  if (!scenes) {
    scenes = new Map();
    sceneSizes.set(s, scenes);
  }
  const jobs = scenes.get(key) ?? new Map<string, Frame>();
  if (hit.frame !== undefined) {
    // This job's largest verified frame is the scene's estimate for the client's next jobs.
    jobs.delete(job.id);
    jobs.set(job.id, hit.frame);
    if (jobs.size > RENDER_SCENE_JOBS) jobs.delete(jobs.keys().next().value as string);
    scenes.set(key, jobs);
    return hit.frame;
  }
  let most: Frame | undefined;
  for (const f of jobs.values()) if (most === undefined || f.unitsMilli > most.unitsMilli) most = f;
  return most !== undefined && most.unitsMilli < worst ? most : { unitsMilli: worst };
}

/**
 * The reward the value floor of a render task is priced with: `econReward` (the coordinator's
 * fixed figure) without a market, else the unit reward × `renderValueUnits`.
 *
 * @example sampledRenderDecision(s, d, p, n, decision, await renderValueReward(s, d, trx, job, econ.reward));
 */
export async function renderValueReward(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
  econReward: bigint,
): Promise<bigint> {
  return (await renderValueBasis(s, d, trx, job, econReward)).valueReward;
}

/**
 * {@link renderValueReward} with what it was priced from, for the draw's basis (docs/validators.md,
 * "Render value rewards"): the size in billed milli-units and the verified frame it was measured
 * on (none: the job's worst case). Without a market: `econReward` alone.
 *
 * @example const { valueReward, valueUnits, valueFrom } = await renderValueBasis(s, d, trx, job, econ.reward);
 */
export async function renderValueBasis(
  s: WorkState,
  d: WorkDeps,
  trx: Kysely<Database>,
  job: JobInfo & { id: string },
  econReward: bigint,
): Promise<{ valueReward: bigint; valueUnits?: bigint; valueFrom?: string }> {
  if (!d.market) return { valueReward: econReward };
  const frame = await renderValueFrame(s, d, trx, job);
  return {
    valueReward: rewardForUnits(s.econ.reward, frame.unitsMilli),
    valueUnits: frame.unitsMilli,
    ...(frame.task !== undefined ? { valueFrom: frame.task } : {}),
  };
}
