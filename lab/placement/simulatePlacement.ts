/**
 * Replays a workload against a fleet with one policy, FGD-paper style: tasks arrive one by one,
 * each is placed or dropped, nothing departs, and the share of GPU capacity allocated is recorded
 * as the share requested grows.
 */

import { createRng } from '../../src/intelligence/rng.ts';
import { ClusterState } from './clusterState.ts';
import { Placer } from './placer.ts';
import type { PlacementPolicy } from './policy.ts';
import type { GpuNode, PlacementTask } from './types.ts';

/** Allocation at one requested share. */
export type AllocationPoint = { requested: number; allocated: number };

/** What one replay measured. */
export type PlacementRun = {
  policy: string;
  /** Allocated GPU share at each checkpoint of requested share (first arrival at or past it). */
  curve: AllocationPoint[];
  placed: number;
  failed: number;
  decisions: number;
  /** Wall-clock seconds of the replay. */
  seconds: number;
  /** CPU seconds of this process during the replay (less sensitive to a busy, shared machine). */
  cpuSeconds: number;
};

/**
 * Replays `tasks` in order on a fresh copy of `nodes`. `checkpoints` are requested shares
 * (e.g. 0.5, 0.6, …, 1.3).
 *
 * @example
 * const run = simulatePlacement(nodes, tasks, createBestFitPolicy(), 42, [1.0, 1.3]);
 * run.curve[0].allocated; // e.g. 0.93
 */
export function simulatePlacement(
  nodes: readonly GpuNode[],
  tasks: readonly PlacementTask[],
  policy: PlacementPolicy,
  seed: number,
  checkpoints: readonly number[],
): PlacementRun {
  const cluster = new ClusterState(nodes);
  const placer = new Placer(cluster, policy, createRng(seed ^ 0x5bd1e995));
  const capacity = cluster.totalGpuMilli;
  const marks = [...checkpoints].sort((a, b) => a - b);
  const curve: AllocationPoint[] = [];
  let next = 0;
  let requested = 0;
  let placed = 0;
  let failed = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (const task of tasks) {
    const p = placer.decide(task);
    if (p) {
      cluster.apply(task, p);
      placed++;
    } else failed++;
    requested += task.gpuCount * task.gpuMilli;
    while (next < marks.length && requested >= marks[next]! * capacity) {
      curve.push({ requested: marks[next]!, allocated: cluster.allocatedGpuMilli / capacity });
      next++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { policy: policy.name, curve, placed, failed, decisions: tasks.length, seconds, cpuSeconds };
}
