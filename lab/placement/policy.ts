/**
 * The placement-policy interface the coordinator's scheduler can plug in: a policy scores one
 * (task, node) pair from the node's free resources; a {@link Placer} asks it about every node and
 * takes the best. Policies are plain, deterministic given their seed, and hold no global state.
 */
import type { ClusterState } from './clusterState.ts';
import type { PlacementTask } from './types.ts';

/** Where a policy writes the device it chose for a GPU-sharing task (-1: none / whole GPUs). */
export type GpuChoice = { gpu: number };

/**
 * Scores (task, node) pairs; higher is better, `-Infinity` means "cannot run there".
 *
 * @example
 * const firstFit: PlacementPolicy = {
 *   name: 'first-fit', cacheable: true, randomTies: false,
 *   score: (task, cluster, n, out) => { out.gpu = -1; return cluster.fits(task, n) ? -n : -Infinity; },
 * };
 */
export interface PlacementPolicy {
  readonly name: string;
  /**
   * True when `score` depends only on the task's resources (CPU, memory, GPU count and milli; not
   * its `gpuSpec`) and the node's model, capacity and free resources (CPU, memory, GPU devices),
   * so that a placer may reuse a score until the node changes, share it between identical nodes
   * in identical states, and share it between tasks that differ only in their GPU-model constraint.
   */
  readonly cacheable: boolean;
  /** True: break ties between equal best scores uniformly at random (as kube-scheduler does). */
  readonly randomTies: boolean;
  score(task: PlacementTask, cluster: ClusterState, node: number, out: GpuChoice): number;
}

/**
 * Key of a task's resource shape; tasks with the same key score identically on every node their
 * GPU-model constraint admits. The constraint (`gpuSpec`) is not part of it: it only decides
 * which nodes are feasible, which the {@link Placer} checks before it looks at a score, so tasks
 * that differ only in their constraint share one score cache (a model-pinned mix has 2–3× more
 * shapes with the constraint than without).
 *
 * @example
 * taskShapeKey({ id: 't', cpuMilli: 4000, memoryMib: 8192, gpuCount: 1, gpuMilli: 500, gpuSpec: ['T4'] }); // '4000/8192/1/500'
 */
export function taskShapeKey(task: PlacementTask): string {
  return `${task.cpuMilli}/${task.memoryMib}/${task.gpuCount}/${task.gpuMilli}`;
}
