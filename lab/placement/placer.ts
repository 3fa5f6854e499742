/**
 * Turns a {@link PlacementPolicy} into decisions: score every node, keep the best, break ties as
 * the policy asks, and pick the devices. Scores of cacheable policies are memoised per task shape
 * and node version, so a decision only rescores the nodes that changed since that shape was last
 * seen; this is what keeps FGD-style scoring above 10,000 decisions/s on the openb fleet.
 */

import type { Rng } from '../../src/intelligence/rng.ts';
import type { ClusterState } from './clusterState.ts';
import { type GpuChoice, type PlacementPolicy, taskShapeKey } from './policy.ts';
import type { Placement, PlacementTask } from './types.ts';

type ShapeCache = {
  key: string;
  /** Node version + 1 at which `score`/`gpu` were computed (0: never). */
  version: Uint32Array;
  score: Float64Array;
  gpu: Int16Array;
  /** Score and device per node state for this shape: identical nodes in identical states score alike. */
  memo: Map<string, { score: number; gpu: number }>;
};

/** Entries kept per shape in the node-state memo before it is cleared; bounds memory on long runs. */
const MEMO_LIMIT = 200_000;

/**
 * Decides where tasks go on one cluster with one policy.
 *
 * @example
 * const placer = new Placer(cluster, createFgdPolicy(typicalTasks(tasks)), createRng(42));
 * const p = placer.decide(task);
 * if (p) cluster.apply(task, p);
 */
export class Placer {
  readonly #cluster: ClusterState;
  readonly #policy: PlacementPolicy;
  readonly #rng: Rng;
  readonly #cache = new Map<string, ShapeCache>();
  readonly #out: GpuChoice = { gpu: -1 };
  #stateKey: string[] = [];
  #stateVersion: Uint32Array = new Uint32Array(0);

  constructor(cluster: ClusterState, policy: PlacementPolicy, rng: Rng) {
    this.#cluster = cluster;
    this.#policy = policy;
    this.#rng = rng;
  }

  /** The best placement for `task`, or `undefined` when no node can take it. Does not apply it. */
  decide(task: PlacementTask): Placement | undefined {
    const cluster = this.#cluster;
    const policy = this.#policy;
    const n = cluster.nodes.length;
    const out = this.#out;
    const randomTies = policy.randomTies;
    const nodeVersion = cluster.version;
    const cache = policy.cacheable ? this.#shapeCache(task, n) : undefined;
    // Hoisted views: this loop runs once per node per decision and dominates the decision rate.
    const seenVersion = cache?.version;
    const cachedScore = cache?.score;
    const cachedGpu = cache?.gpu;
    let best = Number.NEGATIVE_INFINITY;
    let bestNode = -1;
    let bestGpu = -1;
    let ties = 0;
    const pinned = task.gpuSpec.length > 0;
    for (let i = 0; i < n; i++) {
      // The GPU-model constraint is feasibility, checked before any score: cached scores are
      // shared by tasks that differ only in it (see taskShapeKey).
      if (pinned && !cluster.modelAllowed(task, i)) continue;
      let s: number;
      let gpu: number;
      // Versions are stored +1 so that a zeroed cache entry never matches.
      if (seenVersion !== undefined && seenVersion[i] === nodeVersion[i]! + 1) {
        s = cachedScore![i]!;
        gpu = cachedGpu![i]!;
      } else {
        s = this.#scoreNode(task, i, cache);
        gpu = out.gpu;
      }
      if (s < best || s === Number.NEGATIVE_INFINITY) continue;
      if (s > best) {
        best = s;
        bestNode = i;
        bestGpu = gpu;
        ties = 1;
      } else if (randomTies) {
        // Reservoir sampling: each of the k tied nodes ends up chosen with probability 1/k.
        ties++;
        if (this.#rng.int(ties) === 0) {
          bestNode = i;
          bestGpu = gpu;
        }
      }
    }
    if (bestNode < 0) return undefined;
    const gpus = bestGpu >= 0 ? [bestGpu] : cluster.firstFittingGpus(task, bestNode);
    return { node: bestNode, gpus };
  }

  /** Scores node `i` for `task` (through the node-state memo when cacheable) and caches the result. */
  #scoreNode(task: PlacementTask, i: number, cache: ShapeCache | undefined): number {
    const cluster = this.#cluster;
    const out = this.#out;
    out.gpu = -1;
    let s: number;
    if (!cluster.fits(task, i)) s = Number.NEGATIVE_INFINITY;
    else if (cache) {
      const stateKey = this.#nodeStateKey(i);
      const hit = cache.memo.get(stateKey);
      if (hit !== undefined) {
        s = hit.score;
        out.gpu = hit.gpu;
      } else {
        s = this.#policy.score(task, cluster, i, out);
        if (cache.memo.size >= MEMO_LIMIT) cache.memo.clear();
        cache.memo.set(stateKey, { score: s, gpu: out.gpu });
      }
    } else s = this.#policy.score(task, cluster, i, out);
    if (cache) {
      cache.version[i] = cluster.version[i]! + 1;
      cache.score[i] = s;
      cache.gpu[i] = out.gpu;
    }
    return s;
  }

  /** The node's capacity, model and free CPU, memory and GPU (device order kept), recomputed when it changes. */
  #nodeStateKey(n: number): string {
    const cluster = this.#cluster;
    if (this.#stateVersion.length !== cluster.nodes.length) {
      this.#stateVersion = new Uint32Array(cluster.nodes.length).fill(0xffffffff);
      this.#stateKey = new Array<string>(cluster.nodes.length).fill('');
    }
    if (this.#stateVersion[n] === cluster.version[n]) return this.#stateKey[n]!;
    const node = cluster.nodes[n]!;
    let key = `${node.model}/${node.cpuMilli}/${node.memoryMib}/${node.gpus}/${cluster.cpuFree[n]}/${cluster.memFree[n]}`;
    const s = cluster.gpuStart[n]!;
    for (let g = s; g < s + node.gpus; g++) key += `,${cluster.gpuFree[g]}`;
    this.#stateKey[n] = key;
    this.#stateVersion[n] = cluster.version[n]!;
    return key;
  }

  #shapeCache(task: PlacementTask, n: number): ShapeCache {
    const key = taskShapeKey(task);
    let c = this.#cache.get(key);
    if (!c) {
      c = {
        key,
        version: new Uint32Array(n),
        score: new Float64Array(n),
        gpu: new Int16Array(n),
        memo: new Map(),
      };
      this.#cache.set(key, c);
    }
    return c;
  }
}
