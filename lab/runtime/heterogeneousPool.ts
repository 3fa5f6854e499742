/**
 * A fixed pool of heterogeneous providers with a hidden ground truth, for replaying job traces.
 * The Philly trace records how long each job ran on Philly's own GPUs; a decentralised pool mixes
 * hardware generations, and how much faster a newer GPU runs a job depends on the job (a
 * memory-bound model gains less than a compute-bound one). Each node here has a class speed, a
 * per-node factor (two "identical" machines are never quite alike), and each workload an
 * affinity exponent: true speed = (classSpeed · nodeFactor)^affinity(workload).
 */
import { createRng } from '../../src/intelligence/rng.ts';

/** One provider machine of the pool. */
export type PoolNode = { id: string; gpus: number; className: string };

/** A provider class: how many nodes, GPUs each, and its speed relative to the trace's hardware. */
export type PoolClass = { name: string; nodes: number; gpusPerNode: number; speed: number };

/** The pool plus its hidden truth (only the replay's "physics" reads `trueSpeed`). */
export type HeterogeneousPool = {
  nodes: PoolNode[];
  /** Seconds on this node = reference seconds / trueSpeed(node, workload). */
  trueSpeed(node: number, workload: string): number;
};

/** Default mix: 56 nodes × 8 GPUs across four hardware generations. */
export const DEFAULT_CLASSES: readonly PoolClass[] = [
  { name: 'gen4', nodes: 8, gpusPerNode: 8, speed: 2.0 },
  { name: 'gen3', nodes: 16, gpusPerNode: 8, speed: 1.4 },
  { name: 'gen2', nodes: 20, gpusPerNode: 8, speed: 1.0 },
  { name: 'gen1', nodes: 12, gpusPerNode: 8, speed: 0.45 },
];

/**
 * Builds a pool; node order is shuffled by the seed so that "first fit" is not secretly
 * "fastest first".
 *
 * @example
 * const pool = createHeterogeneousPool(DEFAULT_CLASSES, 42);
 * pool.trueSpeed(0, '6214e9'); // e.g. 1.31
 */
export function createHeterogeneousPool(classes: readonly PoolClass[], seed: number): HeterogeneousPool {
  const rng = createRng(seed);
  const nodes: (PoolNode & { speed: number })[] = [];
  for (const c of classes) {
    for (let i = 0; i < c.nodes; i++) {
      // Per-node factor: log-normal with σ ≈ 0.1 (Box–Muller from the seeded generator).
      const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      nodes.push({
        id: `${c.name}-${i}`,
        gpus: c.gpusPerNode,
        className: c.name,
        speed: c.speed * Math.exp(0.1 * z),
      });
    }
  }
  for (let i = nodes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [nodes[i], nodes[j]] = [nodes[j]!, nodes[i]!];
  }
  const affinity = new Map<string, number>();
  const affinityOf = (workload: string): number => {
    let a = affinity.get(workload);
    if (a === undefined) {
      // Stable per (workload name, seed): FNV-1a hash of the name mixed with the seed. Range 0.3..1.3.
      let h = 0x811c9dc5;
      for (let i = 0; i < workload.length; i++) h = Math.imul(h ^ workload.charCodeAt(i), 0x01000193) >>> 0;
      a = 0.3 + createRng(h ^ seed).next();
      affinity.set(workload, a);
    }
    return a;
  };
  return {
    nodes: nodes.map(({ id, gpus, className }) => ({ id, gpus, className })),
    trueSpeed: (node, workload) => nodes[node]!.speed ** affinityOf(workload),
  };
}
