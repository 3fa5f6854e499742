/**
 * Region audits of `blender.render` tasks (docs/render.md, "Region audits"): instead of the whole
 * task, an auditor renders a small region of it, drawn with the seed of the task's audit draw
 * (verification/renderAuditRegion.ts). The region goes to the auditor in its assign message and
 * is kept per assignment (`render_audit_regions`), so that a result is accepted only when it
 * covers exactly what its execution was asked for: a region output from an auditor of that
 * region, a whole image from anyone else. The comparison itself crops the primary's image
 * (verification/compareRenders.ts).
 */
import type { Kysely, Transaction } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import {
  decodeRenderTask,
  type RenderTask,
  renderImageParts,
  renderImageSize,
} from '../../protocol/render.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { Database } from '../store/schema.ts';
import { type AuditDecision, valueAuditFloor } from '../verification/auditPolicy.ts';
import { isRegionRenderOutput, type Pixels } from '../verification/compareRenders.ts';
import { ALWAYS_AUDIT_UNITS, DEFAULT_AUDIT_PARAMS } from '../verification/constants.ts';
import { renderAuditRate } from '../verification/renderAuditRate.ts';
import { primaryRenderPixels, renderAuditRegion } from '../verification/renderAuditRegion.ts';
import type { RevealedOutput } from '../verification/taskVerificationTypes.ts';
import { reputationOf, type WorkDeps, type WorkState } from './workState.ts';

type Executor = Kysely<Database> | Transaction<Database>;
type Region = RenderTask['region'];

/**
 * The audit decision of a `blender.render` task under per-job frame sampling
 * (verification/renderAuditRate.ts): the adaptive decision with its rate capped at the job's
 * sample for a provider with a clean record, never under the economic bound, the floor or the
 * value floor; the draw is the same. `reward` prices the value floor: the task's honest estimate
 * (renderValueFloor.ts `renderValueReward`), not the worst case its recorded economics carry.
 *
 * @example const decision = sampledRenderDecision(state, deps, address, job.spec.inputs.length, d0, econ.reward);
 */
export function sampledRenderDecision(
  s: WorkState,
  d: WorkDeps,
  provider: string,
  tasks: number,
  decision: AuditDecision,
  reward: bigint,
): AuditDecision {
  const lower = Math.max(
    decision.bound,
    DEFAULT_AUDIT_PARAMS.floor,
    valueAuditFloor(reward, s.econ.reward * ALWAYS_AUDIT_UNITS),
  );
  const rate = renderAuditRate({
    rate: decision.rate,
    lower,
    tasks,
    reputation: reputationOf(s, d.now, provider),
  });
  return { ...decision, rate, audit: decision.draw < rate };
}

/**
 * The region an auditor of this render task renders (frame pixels) and its crop of the task's
 * image: the one already drawn for the task (a replacement auditor renders the same region), or
 * a new draw with the seed of the task's audit draw — the epoch's committed seed with a market,
 * else the coordinator's secret seed — grown where the primary's output (`revealed`) is mostly
 * flat (renderAuditRegion.ts).
 *
 * `taskPixels` is the task's size in pixels: billing sizes the auditor's units to the whole task
 * with it (market/priceExecution.ts `medianBilling`).
 *
 * @example const { region, crop, taskPixels } = await renderAuditRegionFor(state, deps, task);
 */
export async function renderAuditRegionFor(
  s: WorkState,
  d: WorkDeps,
  task: { id: string; input_cid: string },
  revealed: readonly RevealedOutput[] = [],
): Promise<{ region: Region; crop: Region; taskPixels: number }> {
  const drawn = await d.db
    .selectFrom('render_audit_regions')
    .select(['region', 'crop', 'task_pixels'])
    .where('task_id', '=', task.id)
    .executeTakeFirst();
  if (drawn?.task_pixels)
    return {
      region: JSON.parse(drawn.region) as Region,
      crop: JSON.parse(drawn.crop) as Region,
      taskPixels: drawn.task_pixels,
    };
  const desc = decodeRenderTask(await d.blobs.read(task.input_cid));
  const [tx, ty, tx1, ty1] = desc.region;
  const taskPixels = (tx1 - tx) * (ty1 - ty);
  // A replacement auditor renders the region drawn first (a row from before 0029 has no task size).
  if (drawn)
    return { region: JSON.parse(drawn.region) as Region, crop: JSON.parse(drawn.crop) as Region, taskPixels };
  // The seed of the task's earliest audited draw (a task re-run after a rejected verification has
  // one draw per primary; validators take the same one: validator/checkRenderRegions.ts).
  const draw = await d.db
    .selectFrom('audit_draws as a')
    .innerJoin('epoch_seeds as e', 'e.epoch', 'a.epoch')
    .select('e.seed')
    .where('a.task_id', '=', task.id)
    .orderBy('a.audited', 'desc')
    .orderBy('a.epoch')
    .executeTakeFirst();
  const region = renderAuditRegion(draw?.seed ?? s.econ.seed, task.id, desc, primaryPixels(revealed));
  const [x0, y0, x1, y1] = region;
  return { region, crop: [x0 - tx, y0 - ty, x1 - tx, y1 - ty], taskPixels };
}

/** The pixels of the first whole (not region) output revealed for the task, when it decodes. */
function primaryPixels(revealed: readonly RevealedOutput[]): Pixels | undefined {
  const whole = revealed.find((o) => o.tensors && !isRegionRenderOutput(o.tensors));
  return primaryRenderPixels(whole?.tensors);
}

/**
 * Keeps the region an auditor's assignment asks for, in the lease's transaction.
 *
 * @example await recordRenderAuditRegion(trx, assignmentId, taskId, drawn, now);
 */
export async function recordRenderAuditRegion(
  trx: Transaction<Database>,
  assignmentId: string,
  taskId: string,
  drawn: { region: Region; crop: Region; taskPixels: number },
  at: number,
): Promise<void> {
  await trx
    .insertInto('render_audit_regions')
    .values({
      assignment_id: assignmentId,
      task_id: taskId,
      region: JSON.stringify(drawn.region),
      crop: JSON.stringify(drawn.crop),
      task_pixels: drawn.taskPixels,
      created_at: at,
    })
    .execute();
}

/**
 * Refuses (PLX_VALIDATION) a render result that does not cover what its execution was asked for:
 * a region output from an execution that was not a region audit, a whole image from one that
 * was, another region than the one drawn, an image of another format than the task's (PNG, or
 * EXR for `format: 'exr'`), or one whose PNG or EXR header gives another size than that region or
 * task. The size is read from the header before anything decodes the image: a 1 MB PNG of
 * 16384×16384 pixels costs about 20 s and 3 GB to decode.
 *
 * @example await checkRenderOutputRegion(deps.db, deps.blobs, msg.assignmentId, tensors);
 */
export async function checkRenderOutputRegion(
  db: Executor,
  blobs: { read(cid: string): Promise<Uint8Array> },
  assignmentId: string,
  tensors: TensorSet,
): Promise<void> {
  const asked = await db
    .selectFrom('render_audit_regions')
    .select('crop')
    .where('assignment_id', '=', assignmentId)
    .executeTakeFirst();
  const { crop, image, format } = renderImageParts(tensors);
  const want = asked ? (JSON.parse(asked.crop) as Region) : undefined;
  if (JSON.stringify(crop) !== JSON.stringify(want)) {
    throw new PlexusError(
      'PLX_VALIDATION',
      want
        ? `this execution renders region ${want.join(',')} of its task, not ${crop?.join(',') ?? 'the whole task'}`
        : 'this execution renders the whole task, not a region',
    );
  }
  const task = await db
    .selectFrom('assignments as a')
    .innerJoin('tasks as t', 't.id', 'a.task_id')
    .select('t.input_cid')
    .where('a.id', '=', assignmentId)
    .executeTakeFirst();
  const desc = task ? decodeRenderTask(await blobs.read(task.input_cid)) : undefined;
  const wantFormat = desc?.format ?? 'png';
  if (desc && format !== wantFormat)
    throw new PlexusError(
      'PLX_VALIDATION',
      `this task renders ${wantFormat.toUpperCase()}, not ${format.toUpperCase()}`,
    );
  const expected: Region | undefined = want ?? desc?.region;
  const size = renderImageSize(image, format);
  if (expected && (size?.width !== expected[2] - expected[0] || size.height !== expected[3] - expected[1]))
    throw new PlexusError(
      'PLX_VALIDATION',
      `the image is ${size ? `${size.width}×${size.height}` : `not a ${format === 'exr' ? 'render EXR' : 'PNG'}`}; this execution renders ${expected[2] - expected[0]}×${expected[3] - expected[1]}`,
    );
}
