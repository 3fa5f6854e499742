/**
 * The region a render audit re-renders (docs/render.md, "Region audits"): a few percent of the
 * sampled task's pixels, placed by the audit seed, so that it is unknown until the seed is
 * revealed (after every verdict of its epoch: the primary has long committed) and then
 * recomputable by anyone, like the audit draw itself (auditSeeds.ts).
 */
import { auditRegionOf, type RenderTask } from '../../protocol/render.ts';
import { hashUnit } from '../../protocol/rng.ts';

/** Share of a task's pixels a region audit renders (at least 16×12 px). */
export const RENDER_AUDIT_FRACTION = 0.04;

/**
 * The audit region of `task` (frame pixels, inside its own region) for the task `taskId`, drawn
 * with the seed its audit draw used.
 *
 * @example renderAuditRegion(seed, taskId, task) // [x0, y0, x1, y1]
 */
export function renderAuditRegion(seed: string, taskId: string, task: RenderTask): RenderTask['region'] {
  return auditRegionOf(
    task,
    RENDER_AUDIT_FRACTION,
    hashUnit(seed, 'render-region', taskId.toLowerCase(), 'x'),
    hashUnit(seed, 'render-region', taskId.toLowerCase(), 'y'),
  );
}
