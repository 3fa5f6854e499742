/**
 * The shapes the placement policies work on. Units follow the openb trace: CPU in millicores,
 * memory in MiB, GPU in "milli-GPUs" (1000 = one whole device).
 */

/**
 * One provider machine: its capacity and GPU model.
 *
 * @example
 * const node: GpuNode = { id: 'openb-node-0000', cpuMilli: 64000, memoryMib: 262144, gpus: 2, model: 'P100' };
 */
export type GpuNode = {
  id: string;
  cpuMilli: number;
  memoryMib: number;
  /** Number of GPU devices (0 for a CPU-only machine). */
  gpus: number;
  /** GPU model name (e.g. `T4`, `V100M32`); empty for a CPU-only machine. */
  model: string;
};

/**
 * One task to place. A task with `gpuCount === 1 && gpuMilli < 1000` shares one GPU with others;
 * a task with `gpuCount >= 1 && gpuMilli === 1000` takes that many whole, otherwise idle GPUs;
 * `gpuCount === 0` is CPU-only.
 *
 * @example
 * const shared: PlacementTask = { id: 't1', cpuMilli: 6000, memoryMib: 12288, gpuCount: 1, gpuMilli: 460, gpuSpec: [] };
 */
export type PlacementTask = {
  id: string;
  cpuMilli: number;
  memoryMib: number;
  gpuCount: number;
  /** Milli-GPU per requested device (1..1000). */
  gpuMilli: number;
  /** Allowed GPU models; empty means any model. */
  gpuSpec: readonly string[];
};

/** Where a task went: the node index and the GPU device indices it uses. */
export type Placement = { node: number; gpus: readonly number[] };

/** Milli-GPUs in one whole device. */
export const MILLI = 1000;
