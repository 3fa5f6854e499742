/**
 * The published baselines of the FGD paper, implemented as in its reference simulator
 * (hkust-adsl/kubernetes-scheduler-simulator): Random, BestFit and FGD. Scores are truncated to
 * kube-scheduler's integer 0..100 range and ties are broken uniformly at random, as there.
 * {@link withBestFitTieBreak} adds the artifact's BestFit score as FGD's tie-breaker: the
 * artifact's scheduler profile enables BestFitScore next to FGDScore, so among nodes with equal
 * integer FGD scores the tighter one wins (that is how its gpushare100 figure is reached).
 */

import type { Rng } from '../../src/intelligence/rng.ts';
import type { ClusterState } from './clusterState.ts';
import { fragmentationAfter, nodeFragmentation, type TypicalTasks } from './fragmentation.ts';
import type { GpuChoice, PlacementPolicy } from './policy.ts';
import { MILLI, type PlacementTask } from './types.ts';

/** CPU and GPU normalisers of the reference BestFit score (largest node spec). */
const MAX_SPEC_CPU = 128_000;
const MAX_SPEC_GPU = 8_000;

/**
 * Random: any node that fits, uniformly; a GPU-sharing task goes to a random device with room.
 *
 * @example
 * const policy = createRandomPolicy(createRng(42));
 */
export function createRandomPolicy(rng: Rng): PlacementPolicy {
  return {
    name: 'Random',
    cacheable: false,
    randomTies: true,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      if (task.gpuCount === 1 && task.gpuMilli < MILLI) out.gpu = randomDeviceWithRoom(task, cluster, n, rng);
      return 0;
    },
  };
}

function randomDeviceWithRoom(task: PlacementTask, cluster: ClusterState, n: number, rng: Rng): number {
  const s = cluster.gpuStart[n]!;
  const options: number[] = [];
  for (let d = 0; d < cluster.gpuCount[n]!; d++)
    if (cluster.gpuFree[s + d]! >= task.gpuMilli) options.push(d);
  return options[rng.int(options.length)] ?? -1;
}

/**
 * BestFit: the node whose free (CPU, GPU) after placement is smallest, weighting both halves
 * equally after normalising by the largest node spec; a GPU-sharing task goes to the device with
 * the least room that still fits.
 *
 * @example
 * const policy = createBestFitPolicy();
 */
export function createBestFitPolicy(): PlacementPolicy {
  return {
    name: 'BestFit',
    cacheable: true,
    randomTies: true,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      if (task.gpuCount === 1 && task.gpuMilli < MILLI) out.gpu = tightestDevice(task, cluster, n);
      return bestFitScore(task, cluster, n);
    },
  };
}

/**
 * The artifact's integer BestFit score of placing `task` on node `n`:
 * trunc(100·(1 − ½·cpuLeft/128000 − ½·gpuLeft/8000)), higher = tighter.
 *
 * @example
 * bestFitScore(task, cluster, 0); // e.g. 97 on a nearly full node
 */
export function bestFitScore(task: PlacementTask, cluster: ClusterState, n: number): number {
  const cpuLeft = cluster.cpuFree[n]! - task.cpuMilli;
  const gpuLeft = cluster.gpuFreeTotal(n) - task.gpuCount * task.gpuMilli;
  const waste = 0.5 * (cpuLeft / MAX_SPEC_CPU) + 0.5 * (gpuLeft / MAX_SPEC_GPU);
  return Math.trunc((1 - waste) * 100);
}

/**
 * FGD's tie-breaking as in its artifact: the primary integer score (0..100) decides, and among
 * equal scores the BestFit score (0..100) does; only ties in both are broken at random. Encoded
 * as 1000·primary + BestFit, which orders exactly lexicographically because BestFit < 1000.
 *
 * @example
 * const fgdBestFit = withBestFitTieBreak(createFgdPolicy(typical)); // name 'FGD+BF'
 */
export function withBestFitTieBreak(policy: PlacementPolicy): PlacementPolicy {
  return {
    name: `${policy.name}+BF`,
    cacheable: policy.cacheable,
    randomTies: true,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      const s = policy.score(task, cluster, n, out);
      if (s === Number.NEGATIVE_INFINITY) return s;
      return 1000 * s + bestFitScore(task, cluster, n);
    },
  };
}

/**
 * The device of node `n` with the least free milli that still fits `task` (lowest index on ties).
 *
 * @example
 * tightestDevice(task, cluster, 3); // e.g. 1, the device with 300 free for a 250m task
 */
export function tightestDevice(task: PlacementTask, cluster: ClusterState, n: number): number {
  const s = cluster.gpuStart[n]!;
  let best = -1;
  let bestFree = Number.POSITIVE_INFINITY;
  for (let d = 0; d < cluster.gpuCount[n]!; d++) {
    const f = cluster.gpuFree[s + d]!;
    if (f >= task.gpuMilli && f < bestFree) {
      best = d;
      bestFree = f;
    }
  }
  return best;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * FGD: the node (and device) whose fragmentation F_n(M) grows least when the task lands there,
 * scored as kube-scheduler does in the reference: trunc(100 · sigmoid((F_before − F_after)/1000)).
 *
 * @example
 * const policy = createFgdPolicy(typicalTasks(loadOpenbTasks('default')));
 */
export function createFgdPolicy(typical: TypicalTasks): PlacementPolicy {
  const quantised = (before: number, after: number): number =>
    Math.trunc(sigmoid((before - after) / 1000) * 100);
  return {
    name: 'FGD',
    cacheable: true,
    randomTies: true,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      const before = nodeFragmentation(cluster, n, typical);
      if (task.gpuCount === 1 && task.gpuMilli < MILLI) {
        let best = Number.NEGATIVE_INFINITY;
        const s = cluster.gpuStart[n]!;
        for (let d = 0; d < cluster.gpuCount[n]!; d++) {
          if (cluster.gpuFree[s + d]! < task.gpuMilli) continue;
          const score = quantised(before, fragmentationAfter(cluster, n, task, d, typical));
          if (score > best) {
            best = score;
            out.gpu = d;
          }
        }
        return best;
      }
      return quantised(before, fragmentationAfter(cluster, n, task, -1, typical));
    },
  };
}

/**
 * Adds kube-scheduler's default resource scores as tie-breakers, as a Kubernetes deployment of
 * a plugin gets them: 1000 × the policy's score (the plugin weight used in the FGD artifact) +
 * NodeResourcesLeastAllocated + NodeResourcesBalancedAllocation over CPU and memory (weight 1
 * each, integer 0..100). Used to bracket how the FGD paper's numbers may have been tie-broken.
 *
 * @example
 * const fgdOnK8s = withKubeDefaultScores(createFgdPolicy(typical));
 */
export function withKubeDefaultScores(policy: PlacementPolicy): PlacementPolicy {
  return {
    name: `${policy.name}+k8s`,
    cacheable: policy.cacheable,
    randomTies: policy.randomTies,
    score(task: PlacementTask, cluster: ClusterState, n: number, out: GpuChoice): number {
      const s = policy.score(task, cluster, n, out);
      const node = cluster.nodes[n]!;
      const cpuLeft = (cluster.cpuFree[n]! - task.cpuMilli) / Math.max(node.cpuMilli, 1);
      const memLeft = (cluster.memFree[n]! - task.memoryMib) / Math.max(node.memoryMib, 1);
      const leastAllocated = Math.trunc(((cpuLeft + memLeft) / 2) * 100);
      const balanced = Math.trunc((1 - Math.abs(cpuLeft - memLeft)) * 100);
      return 1000 * s + leastAllocated + balanced;
    },
  };
}
