/**
 * The region shares of a task's render region audits, read from the store (docs/render.md
 * "Billing"): which of the given assignments rendered only a region of its task, with the region's
 * and the task's pixels, so that billing sizes their units to the whole task.
 */
import type { Kysely, Transaction } from 'kysely';
import type { RenderTask } from '../../protocol/render.ts';
import type { Database } from '../store/schema.ts';
import type { RegionShare } from './priceExecution.ts';

/**
 * The pixels of task `idx` of a render job: its tile's (tasks are frame-major, tiles row by row, as
 * protocol/render.ts `renderTasksOf` lays them out and intake checks). Pure.
 *
 * @example renderTaskPixels({ width: 64, height: 48, tiles: { x: 2, y: 1 } }, 1); // 1536
 */
export function renderTaskPixels(
  r: { width: number; height: number; tiles: { x: number; y: number } },
  idx: number,
): number {
  const tile = idx % (r.tiles.x * r.tiles.y);
  const tx = tile % r.tiles.x;
  const ty = Math.floor(tile / r.tiles.x);
  const w = Math.floor(((tx + 1) * r.width) / r.tiles.x) - Math.floor((tx * r.width) / r.tiles.x);
  const h = Math.floor(((ty + 1) * r.height) / r.tiles.y) - Math.floor((ty * r.height) / r.tiles.y);
  return w * h;
}

/**
 * Region audit assignments among `assignmentIds` with their share of the task. A row from before
 * 0029 carries no task size: it is taken from the job's render settings (`render`) and the task's
 * index.
 *
 * @example const shares = await regionSharesOf(trx, ['0xab…'], spec.render); // Map { '0xab…' => { pixels: 192, taskPixels: 3072 } }
 */
export async function regionSharesOf(
  db: Kysely<Database> | Transaction<Database>,
  assignmentIds: readonly string[],
  render?: { width: number; height: number; tiles: { x: number; y: number } },
): Promise<Map<string, RegionShare>> {
  const out = new Map<string, RegionShare>();
  if (assignmentIds.length === 0) return out;
  const rows = await db
    .selectFrom('render_audit_regions as r')
    .leftJoin('tasks as t', 't.id', 'r.task_id')
    .select(['r.assignment_id', 'r.crop', 'r.task_pixels', 't.idx'])
    .where('r.assignment_id', 'in', [...assignmentIds])
    .execute();
  for (const r of rows) {
    const taskPixels =
      r.task_pixels ?? (render && r.idx !== null ? renderTaskPixels(render, r.idx) : undefined);
    if (!taskPixels) continue;
    const [x0, y0, x1, y1] = JSON.parse(r.crop) as RenderTask['region'];
    out.set(r.assignment_id, { pixels: (x1 - x0) * (y1 - y0), taskPixels });
  }
  return out;
}
