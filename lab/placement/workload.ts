/**
 * The FGD evaluation workload: tasks drawn with replacement from a trace's task list, with a
 * seeded generator, until their GPU requests add up to a given share of the fleet's GPU capacity
 * (130% in the paper). Arrival order is the draw order; nothing departs.
 */
import { createRng } from '../../src/intelligence/rng.ts';
import type { PlacementTask } from './types.ts';

/**
 * Draws tasks until Σ gpuCount·gpuMilli ≥ `share` · `capacityMilli`.
 *
 * @example
 * const tasks = resampleWorkload(loadOpenbTasks('default'), 6212 * 1000, 1.3, 42);
 */
export function resampleWorkload(
  pool: readonly PlacementTask[],
  capacityMilli: number,
  share: number,
  seed: number,
): PlacementTask[] {
  const rng = createRng(seed);
  const out: PlacementTask[] = [];
  const target = share * capacityMilli;
  let requested = 0;
  if (!pool.some((t) => t.gpuCount > 0)) return out;
  while (requested < target) {
    const t = pool[rng.int(pool.length)]!;
    out.push(t);
    requested += t.gpuCount * t.gpuMilli;
  }
  return out;
}
