/**
 * Where a render audit's region is drawn (docs/render.md, "Region audits"), as pure geometry:
 * the coordinator draws it (coordinator/verification/renderAuditRegion.ts) and a validator
 * re-derives it from the revealed seed (validator/checkRenderRegions.ts). The drawn region is
 * placed by the audit seed; it may then only grow, each step twice the width and height about its
 * centre, clamped into the task, until it is the whole task. Which step the coordinator stops at
 * depends on the primary's pixels (a mostly flat region grows); where the chain starts and how it
 * grows do not.
 */
import { auditRegionOf, type RenderTask } from './render.ts';
import { hashUnit } from './rng.ts';

/** Share of a task's pixels a region audit renders (at least 16×12 px). */
export const RENDER_AUDIT_FRACTION = 0.04;

type Region = RenderTask['region'];

/**
 * The region drawn for `taskId` with the seed `seed` (hex), before any growth.
 *
 * @example drawnAuditRegion(seed, taskId, { region: [0, 0, 64, 48] }) // [x0, y0, x1, y1]
 */
export function drawnAuditRegion(seed: string, taskId: string, task: Pick<RenderTask, 'region'>): Region {
  return auditRegionOf(
    task as RenderTask,
    RENDER_AUDIT_FRACTION,
    hashUnit(seed, 'render-region', taskId.toLowerCase(), 'x'),
    hashUnit(seed, 'render-region', taskId.toLowerCase(), 'y'),
  );
}

/** True when `region` is the whole of `task`'s region. */
export function isWholeTask(task: Pick<RenderTask, 'region'>, region: Region): boolean {
  return region.every((v, i) => v === task.region[i]);
}

/**
 * One growth step: twice the width and height about the centre, clamped into the task.
 *
 * @example grownOnce({ region: [0, 0, 64, 48] }, [10, 10, 26, 22]) // [2, 4, 34, 28]
 */
export function grownOnce(task: Pick<RenderTask, 'region'>, region: Region): Region {
  const [tx0, ty0, tx1, ty1] = task.region;
  const [x0, y0, x1, y1] = region;
  const w = Math.min(tx1 - tx0, (x1 - x0) * 2);
  const h = Math.min(ty1 - ty0, (y1 - y0) * 2);
  const nx = Math.max(tx0, Math.min(tx1 - w, Math.round((x0 + x1 - w) / 2)));
  const ny = Math.max(ty0, Math.min(ty1 - h, Math.round((y0 + y1 - h) / 2)));
  return [nx, ny, nx + w, ny + h];
}

/**
 * Every region an audit of `taskId` may honestly render: the drawn one, then each growth step up
 * to the whole task.
 *
 * @example auditRegionChain(seed, taskId, task).some((r) => same(r, rendered))
 */
export function auditRegionChain(seed: string, taskId: string, task: Pick<RenderTask, 'region'>): Region[] {
  const chain = [drawnAuditRegion(seed, taskId, task)];
  while (!isWholeTask(task, chain.at(-1)!) && chain.length < 64) chain.push(grownOnce(task, chain.at(-1)!));
  return chain;
}
