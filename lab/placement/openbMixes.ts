/**
 * The openb task-list mixes of the FGD artifact beyond the three in `../shared/data`: the
 * artifact (hkust-adsl/kubernetes-scheduler-simulator, `data/csv/`) ships 24 variants of the task
 * list (GPU-model constraints `gpuspecNN`, sharing `gpushareNN`, multi-GPU `multigpuNN`, CPU-only
 * load `cpuNNN`). They are not part of the shared data folder, so the placement benchmark reads
 * them from a folder the caller extracts them to (outside the repository), and says which mixes
 * were fitted on and which are only reported.
 */
import { join } from 'node:path';
import { readCsv } from '../traces/readCsv.ts';
import type { PlacementTask } from './types.ts';

/**
 * Mixes the Plexus policy's weights were fitted on (seeds 1000–1001). Never reported as results.
 *
 * @example
 * FIT_MIXES.includes('gpuspec20'); // true
 */
export const FIT_MIXES = ['gpuspec20', 'gpushare40', 'multigpu30', 'cpu100'] as const;

/**
 * CPU-scarce fitting workloads, built from the fitting mix cpu100 alone: `cpu100xK` is cpu100
 * with its CPU-only tasks repeated to K times their number (K = 2, 2.5, 3, 3.5, 4 puts the
 * workload's CPU demand at 0.90–1.17× the fleet's CPU per GPU requested). The CPU-scarcity rule of
 * the Plexus policy (`cpuScarcityThreshold`) was fitted on these, seeds 1000–1001: no artifact
 * fitting mix asks more CPU than the fleet has. Never reported as results.
 *
 * @example
 * DERIVED_FIT_MIXES.includes('cpu100x3'); // true
 */
export const DERIVED_FIT_MIXES = ['cpu100x2', 'cpu100x2.5', 'cpu100x3', 'cpu100x3.5', 'cpu100x4'] as const;

/**
 * A derived fitting pool (see {@link DERIVED_FIT_MIXES}): `base` with its CPU-only tasks repeated
 * in list order until there are `factor` times as many; `undefined` for a name that is not one.
 *
 * @example
 * derivedFitPool('cpu100x3', (m) => parseOpenbTaskFile(openbMixPath(dir, m)));
 */
export function derivedFitPool(
  name: string,
  load: (mix: string) => PlacementTask[],
): PlacementTask[] | undefined {
  const m = /^(cpu100)x([0-9]+(?:\.[0-9]+)?)$/.exec(name);
  if (!m) return undefined;
  const pool = load(m[1]!);
  const cpuOnly = pool.filter((t) => t.gpuCount === 0);
  const extra = Math.round(cpuOnly.length * (Number(m[2]) - 1));
  const added: PlacementTask[] = [];
  for (let i = 0; i < extra && cpuOnly.length > 0; i++) {
    const t = cpuOnly[i % cpuOnly.length]!;
    added.push({ ...t, id: `${t.id}~${Math.floor(i / cpuOnly.length) + 1}` });
  }
  return [...pool, ...added];
}

/**
 * Artifact mixes the benchmark reports (besides the three shared ones); disjoint from {@link FIT_MIXES}.
 *
 * @example
 * REPORTED_EXTRA_MIXES[0]; // 'gpuspec05'
 */
export const REPORTED_EXTRA_MIXES = [
  'gpuspec05',
  'gpuspec10',
  'gpuspec25',
  'gpuspec33',
  'gpushare60',
  'multigpu40',
  // Added 2026-12-06 so that every artifact mix but the four fitted on is reported.
  'gpushare20',
  'gpushare80',
  'multigpu20',
  'cpu037',
  'cpu050',
  'cpu072',
  'cpu200',
  'cpu235',
  'cpu250',
  'cpu300',
] as const;

/**
 * Parses one openb task list (`name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,…]`);
 * `gpu_spec` becomes the allowed GPU models.
 *
 * @example
 * const tasks = parseOpenbTaskFile('/tmp/openb/openb_pod_list_gpuspec33.csv');
 */
export function parseOpenbTaskFile(path: string): PlacementTask[] {
  return readCsv(path).map((r) => {
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

/**
 * Path of mix `name` in a folder holding the artifact's `openb_pod_list_<name>.csv` files.
 *
 * @example
 * openbMixPath('/tmp/openb', 'gpuspec33'); // '/tmp/openb/openb_pod_list_gpuspec33.csv'
 */
export function openbMixPath(dir: string, name: string): string {
  return join(dir, `openb_pod_list_${name}.csv`);
}
