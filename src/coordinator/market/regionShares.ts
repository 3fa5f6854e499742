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
 * Region audit assignments among `assignmentIds` with their share of the task (rows from before
 * 0029 carry no task size and are left out: billed as before).
 *
 * @example const shares = await regionSharesOf(trx, ['0xab…']); // Map { '0xab…' => { pixels: 192, taskPixels: 3072 } }
 */
export async function regionSharesOf(
  db: Kysely<Database> | Transaction<Database>,
  assignmentIds: readonly string[],
): Promise<Map<string, RegionShare>> {
  const out = new Map<string, RegionShare>();
  if (assignmentIds.length === 0) return out;
  const rows = await db
    .selectFrom('render_audit_regions')
    .select(['assignment_id', 'crop', 'task_pixels'])
    .where('assignment_id', 'in', [...assignmentIds])
    .execute();
  for (const r of rows) {
    if (!r.task_pixels) continue;
    const [x0, y0, x1, y1] = JSON.parse(r.crop) as RenderTask['region'];
    out.set(r.assignment_id, { pixels: (x1 - x0) * (y1 - y0), taskPixels: r.task_pixels });
  }
  return out;
}
