/**
 * Loaders for the Alibaba "openb" GPU cluster trace (cluster-trace-gpu-v2023, as redistributed by
 * the FGD authors): the 1,213-node fleet and the three task lists used by the placement benchmark.
 */
import type { GpuNode, PlacementTask } from '../placement/types.ts';
import { requireSharedData } from './dataDir.ts';
import { readCsv } from './readCsv.ts';

/** The task-list variants shipped in `../shared/data/traces/openb`. */
export type OpenbVariant = 'default' | 'gpushare100' | 'multigpu50';

/** Relative path (under the shared data folder) of the openb node list. */
export const OPENB_NODES = 'traces/openb/openb_node_list_gpu_node.csv';

/**
 * Relative path of one openb task list.
 *
 * @example
 * openbTasksPath('gpushare100'); // 'traces/openb/openb_pod_list_gpushare100.csv'
 */
export function openbTasksPath(variant: OpenbVariant): string {
  return `traces/openb/openb_pod_list_${variant}.csv`;
}

/**
 * The openb fleet: 1,213 GPU nodes with CPU, memory, GPU count and model.
 *
 * @example
 * const nodes = loadOpenbNodes(); // nodes.length === 1213
 */
export function loadOpenbNodes(limit?: number): GpuNode[] {
  return readCsv(requireSharedData(OPENB_NODES), limit).map((r) => ({
    id: r.sn ?? '',
    cpuMilli: Number(r.cpu_milli),
    memoryMib: Number(r.memory_mib),
    gpus: Number(r.gpu),
    model: r.model ?? '',
  }));
}

/**
 * One openb task list. `gpu_spec` (when the column exists) becomes the list of allowed models.
 *
 * @example
 * const tasks = loadOpenbTasks('gpushare100', 500);
 */
export function loadOpenbTasks(variant: OpenbVariant, limit?: number): PlacementTask[] {
  return readCsv(requireSharedData(openbTasksPath(variant)), limit).map((r) => {
    const gpuCount = Number(r.num_gpu);
    return {
      id: r.name ?? '',
      cpuMilli: Number(r.cpu_milli),
      memoryMib: Number(r.memory_mib),
      gpuCount,
      gpuMilli: gpuCount === 0 ? 0 : Number(r.gpu_milli),
      gpuSpec: (r.gpu_spec ?? '').split('|').filter((s) => s !== ''),
    };
  });
}
