/**
 * Plexus placement: "balanced fragmentation descent". FGD (ATC'23) moves each task to where the
 * expected unusable GPU of the target workload grows least, but it only looks one task ahead, so
 * it happily spends a GPU-dense node's CPU on CPU-heavy or CPU-only tasks; the node's GPUs are
 * then stranded without CPU long before its devices fill (on openb's gpushare100 list FGD leaves
 * ~300 idle G2 GPUs behind nodes with no CPU, while T4 nodes keep thousands of idle cores).
 *
 * This policy scores a (task, node, device) choice by three exact, unquantised terms:
 *   1. ΔF: growth of FGD's fragmentation F_n(M) (milli-GPU);
 *   2. ΔS: growth of stranded GPU, S_n = max(0, freeGpu − freeCpu / ρ), where ρ is the workload's
 *      CPU per GPU (milli-CPU per milli-GPU over its GPU tasks): GPU that the workload's own mix
 *      could never feed with the CPU left on that node;
 *   3. a small best-fit term (free CPU and GPU left on the node) that breaks near-ties towards
 *      packing, and an optional price term for cost-aware placement.
 * Higher score is better; ties keep the lowest node index, so decisions are deterministic.
 */
import type { ClusterState } from './clusterState.ts';
import { fragmentationAfter, nodeFragmentation, type TypicalTasks } from './fragmentation.ts';
import type { GpuChoice, PlacementPolicy } from './policy.ts';
import { MILLI, type PlacementTask } from './types.ts';

/** Tuning of {@link createPlexusPolicy}; the defaults were chosen on seeds 1000–1001, not the benchmark seeds. */
export type PlexusPolicyOptions = {
  /** Weight of stranded-GPU growth relative to fragmentation growth. Default 3. */
  strandWeight?: number;
  /** Weight of the best-fit tie-breaker (normalised free CPU+GPU left). Default 0.02. */
  packWeight?: number;
  /** Price per whole GPU of each node (any unit); with `costWeight` > 0 cheaper nodes win. */
  gpuPrice?: readonly number[];
  /** Score units (1 = one milli-GPU of fragmentation ·1000) per price unit per GPU asked. Default 0. */
  costWeight?: number;
};

/**
 * Milli-CPU the workload uses per milli-GPU, over the typical tasks that need a GPU.
 *
 * @example
 * cpuPerGpu(typicalTasks(loadOpenbTasks('default'))); // ≈ 10.9 milli-CPU per milli-GPU
 */
export function cpuPerGpu(typical: TypicalTasks): number {
  let cpu = 0;
  let gpu = 0;
  for (let k = 0; k < typical.weight.length; k++) {
    if (typical.gpuMilli[k] === 0) continue;
    cpu += typical.weight[k]! * typical.cpu[k]!;
    gpu += typical.weight[k]! * typical.gpuCount[k]! * typical.gpuMilli[k]!;
  }
  return gpu > 0 ? cpu / gpu : 0;
}

/**
 * Creates the Plexus policy for a target workload.
 *
 * @example
 * const policy = createPlexusPolicy(typicalTasks(loadOpenbTasks('default')));
 * const placer = new Placer(cluster, policy, createRng(1));
 */
export function createPlexusPolicy(typical: TypicalTasks, opts: PlexusPolicyOptions = {}): PlacementPolicy {
  const strandWeight = opts.strandWeight ?? 3;
  const packWeight = opts.packWeight ?? 0.02;
  const costWeight = opts.costWeight ?? 0;
  const rho = cpuPerGpu(typical);
  const stranded = (freeGpu: number, freeCpu: number): number =>
    rho > 0 ? Math.max(0, freeGpu - freeCpu / rho) : 0;

  return {
    name: 'Plexus',
    // A per-node price makes identical nodes score differently, so node-state memoising is off then.
    cacheable: opts.gpuPrice === undefined,
    randomTies: false,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      const fragBefore = nodeFragmentation(cluster, n, typical);
      const gpuFree = cluster.gpuFreeTotal(n);
      const cpuFree = cluster.cpuFree[n]!;
      const gpuAfter = gpuFree - task.gpuCount * task.gpuMilli;
      const cpuAfter = cpuFree - task.cpuMilli;
      const node = cluster.nodes[n]!;
      const strandGrowth = stranded(gpuAfter, cpuAfter) - stranded(gpuFree, cpuFree);
      const waste =
        0.5 * (cpuAfter / Math.max(node.cpuMilli, 1)) + 0.5 * (gpuAfter / Math.max(node.gpus * MILLI, 1));
      const price = opts.gpuPrice?.[n] ?? 0;
      const common =
        -(strandWeight * strandGrowth) / 1000 -
        packWeight * waste -
        (costWeight * price * task.gpuCount * task.gpuMilli) / MILLI;
      if (task.gpuCount === 1 && task.gpuMilli < MILLI) {
        let best = Number.NEGATIVE_INFINITY;
        const s = cluster.gpuStart[n]!;
        for (let d = 0; d < cluster.gpuCount[n]!; d++) {
          const free = cluster.gpuFree[s + d]!;
          if (free < task.gpuMilli) continue;
          // Among devices that fragment equally, prefer the fuller one (keeps idle devices whole).
          const v = (fragBefore - fragmentationAfter(cluster, n, task, d, typical)) / 1000 - 1e-6 * free;
          if (v > best) {
            best = v;
            out.gpu = d;
          }
        }
        return best + common;
      }
      return (fragBefore - fragmentationAfter(cluster, n, task, -1, typical)) / 1000 + common;
    },
  };
}
