/**
 * GPU fragmentation as defined by FGD (Weng et al., ATC'23): for a target workload M of "typical"
 * tasks with popularity p_m, a node's fragmentation is F_n(M) = Σ_m p_m · F_n(m), where F_n(m) is
 * the free milli-GPU on n that task m could not use:
 * - all free GPU when m needs no GPU, when n's model is not allowed for m, or when n lacks CPU or
 *   enough devices with room for m;
 * - otherwise the free milli of the devices with less room than m asks per device.
 * Memory is not part of the measure (as in the reference simulator).
 */
import type { ClusterState } from './clusterState.ts';
import type { PlacementTask } from './types.ts';

/** The target workload: one row per task shape with its share of the workload. */
export type TypicalTasks = {
  cpu: Int32Array;
  gpuMilli: Int32Array;
  gpuCount: Int32Array;
  weight: Float64Array;
  spec: (readonly string[])[];
};

/** Options of {@link typicalTasks}. */
export type TypicalTasksOptions = {
  /**
   * Keep the most popular shapes until they cover this share of the workload, then renormalise
   * (the reference simulator's "pod popularity threshold"). Default 1: every shape.
   */
  popularity?: number;
  /** Count each task once (`count`, FGD) or by its GPU request (`gpu`). Default `count`. */
  weighting?: 'count' | 'gpu';
};

/**
 * Builds the target workload from a task list (the trace itself, as FGD does).
 *
 * @example
 * const typical = typicalTasks(loadOpenbTasks('default'));
 */
export function typicalTasks(tasks: readonly PlacementTask[], opts: TypicalTasksOptions = {}): TypicalTasks {
  const popularity = opts.popularity ?? 1;
  const byShape = new Map<string, { t: PlacementTask; w: number }>();
  let total = 0;
  for (const t of tasks) {
    const key = `${t.cpuMilli}/${t.gpuCount}/${t.gpuMilli}/${t.gpuSpec.join('|')}`;
    const w = opts.weighting === 'gpu' ? Math.max(t.gpuCount * t.gpuMilli, 1) : 1;
    const e = byShape.get(key);
    if (e) e.w += w;
    else byShape.set(key, { t, w });
    total += w;
  }
  const sorted = [...byShape.values()].sort((a, b) => b.w - a.w || a.t.cpuMilli - b.t.cpuMilli);
  const kept: { t: PlacementTask; w: number }[] = [];
  let covered = 0;
  for (const e of sorted) {
    if (covered >= popularity * total - 1e-9) break;
    kept.push(e);
    covered += e.w;
  }
  return {
    cpu: Int32Array.from(kept, (e) => e.t.cpuMilli),
    gpuMilli: Int32Array.from(kept, (e) => e.t.gpuMilli),
    gpuCount: Int32Array.from(kept, (e) => e.t.gpuCount),
    weight: Float64Array.from(kept, (e) => e.w / covered),
    spec: kept.map((e) => e.t.gpuSpec),
  };
}

/**
 * F_n(M) for node `n` in its current state, in milli-GPU.
 *
 * @example
 * const f = nodeFragmentation(cluster, 0, typical); // 0 on an idle node that every shape fits
 */
export function nodeFragmentation(cluster: ClusterState, n: number, typical: TypicalTasks): number {
  const s = cluster.gpuStart[n]!;
  const e = s + cluster.gpuCount[n]!;
  const free = cluster.gpuFree;
  let total = 0;
  for (let g = s; g < e; g++) total += free[g]!;
  if (total === 0) return 0;
  const cpuLeft = cluster.cpuFree[n]!;
  const table = modelTable(typical, cluster.nodes[n]?.model ?? '');
  // Devices with room, and the free milli-GPU on those without, depend only on a shape's milli:
  // count them once per distinct milli (a handful) rather than once per shape (~100). Integer
  // sums, and the shapes are still added in their own order, so F is bit-identical either way.
  const milli = table.distinctMilli;
  for (let m = 0; m < milli.length; m++) {
    let room = 0;
    let unusable = 0;
    for (let g = s; g < e; g++) {
      const f = free[g]!;
      if (f >= milli[m]!) room++;
      else unusable += f;
    }
    roomScratch[m] = room;
    unusableScratch[m] = unusable;
  }
  let frag = table.blockedWeight * total;
  const count = table.weight.length;
  for (let k = 0; k < count; k++) {
    const w = table.weight[k]!;
    if (cpuLeft < table.cpu[k]!) {
      frag += w * total;
      continue;
    }
    const m = table.milliIndex[k]!;
    frag += w * (roomScratch[m]! >= table.gpuCount[k]! ? unusableScratch[m]! : total);
  }
  return frag;
}

/**
 * The typical tasks as seen from one GPU model: the summed weight of those that can never use it
 * (no GPU, or a `gpu_spec` without the model), and the others merged by (CPU, milli, count).
 * With GPU-model constraints a workload has several times more shapes (330 instead of 91 on
 * gpuspec33), but per model they collapse to about the unconstrained count, so scoring a node
 * costs about the same on constrained and unconstrained mixes.
 */
type ModelTable = {
  blockedWeight: number;
  cpu: Int32Array;
  gpuMilli: Int32Array;
  /** The distinct values of `gpuMilli`, and each row's index into them. */
  distinctMilli: Int32Array;
  milliIndex: Int32Array;
  gpuCount: Int32Array;
  weight: Float64Array;
};

const modelTables = new WeakMap<TypicalTasks, Map<string, ModelTable>>();
/** Per distinct milli of the table being evaluated: devices with room, free milli on the rest. */
let roomScratch = new Int32Array(64);
let unusableScratch = new Int32Array(64);

function modelTable(typical: TypicalTasks, model: string): ModelTable {
  let byModel = modelTables.get(typical);
  if (!byModel) {
    byModel = new Map();
    modelTables.set(typical, byModel);
  }
  let table = byModel.get(model);
  if (table) return table;
  let blockedWeight = 0;
  const merged = new Map<string, { cpu: number; milli: number; count: number; w: number }>();
  for (let k = 0; k < typical.weight.length; k++) {
    const w = typical.weight[k]!;
    const milli = typical.gpuMilli[k]!;
    const spec = typical.spec[k]!;
    if (milli === 0 || (spec.length > 0 && !spec.includes(model))) {
      blockedWeight += w;
      continue;
    }
    const key = `${typical.cpu[k]}/${milli}/${typical.gpuCount[k]}`;
    const m = merged.get(key);
    if (m) m.w += w;
    else merged.set(key, { cpu: typical.cpu[k]!, milli, count: typical.gpuCount[k]!, w });
  }
  const rows = [...merged.values()];
  const distinct = [...new Set(rows.map((r) => r.milli))];
  if (distinct.length > roomScratch.length) {
    roomScratch = new Int32Array(distinct.length);
    unusableScratch = new Int32Array(distinct.length);
  }
  table = {
    blockedWeight,
    cpu: Int32Array.from(rows, (r) => r.cpu),
    gpuMilli: Int32Array.from(rows, (r) => r.milli),
    distinctMilli: Int32Array.from(distinct),
    milliIndex: Int32Array.from(rows, (r) => distinct.indexOf(r.milli)),
    gpuCount: Int32Array.from(rows, (r) => r.count),
    weight: Float64Array.from(rows, (r) => r.w),
  };
  byModel.set(model, table);
  return table;
}

/**
 * F_n(M) of node `n` as if `task` were placed on it (on device `gpu` for a GPU-sharing task, on
 * the least-free devices with room otherwise); the cluster is restored before returning.
 *
 * @example
 * const delta = fragmentationAfter(cluster, 3, task, -1, typical) - nodeFragmentation(cluster, 3, typical);
 */
export function fragmentationAfter(
  cluster: ClusterState,
  n: number,
  task: PlacementTask,
  gpu: number,
  typical: TypicalTasks,
): number {
  const s = cluster.gpuStart[n]!;
  // Scratch instead of fresh arrays: this runs for every rescored (node, device) of every decision.
  let touchedCount = 0;
  if (gpu >= 0) touched[touchedCount++] = s + gpu;
  else if (task.gpuCount > 0) {
    // The reference "Sub": take devices in ascending order of free milli among those with room
    // (ties by device order; an insertion sort, nodes have at most a handful of devices).
    const free = cluster.gpuFree;
    let k = 0;
    for (let g = s; g < s + cluster.gpuCount[n]!; g++) {
      if (free[g]! < task.gpuMilli) continue;
      if (k >= devices.length) devices = growInt32(devices);
      let i = k++;
      while (i > 0 && free[devices[i - 1]!]! > free[g]!) {
        devices[i] = devices[i - 1]!;
        i--;
      }
      devices[i] = g;
    }
    touchedCount = Math.min(k, task.gpuCount);
    if (touchedCount > touched.length) touched = new Int32Array(Math.max(touchedCount, 2 * touched.length));
    for (let i = 0; i < touchedCount; i++) touched[i] = devices[i]!;
  }
  cluster.cpuFree[n] = cluster.cpuFree[n]! - task.cpuMilli;
  for (let i = 0; i < touchedCount; i++)
    cluster.gpuFree[touched[i]!] = cluster.gpuFree[touched[i]!]! - task.gpuMilli;
  const f = nodeFragmentation(cluster, n, typical);
  for (let i = 0; i < touchedCount; i++)
    cluster.gpuFree[touched[i]!] = cluster.gpuFree[touched[i]!]! + task.gpuMilli;
  cluster.cpuFree[n] = cluster.cpuFree[n]! + task.cpuMilli;
  return f;
}

let touched: Int32Array = new Int32Array(16);
let devices: Int32Array = new Int32Array(16);
const growInt32 = (a: Int32Array): Int32Array => {
  const b = new Int32Array(2 * a.length);
  b.set(a);
  return b;
};
