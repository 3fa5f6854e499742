/**
 * Which connected providers can render: those whose hardware claim names Blender (and, for a job
 * that pins one, the same major version). A provider without Blender never gets render work.
 * Kept beside the work state (keyed by it), filled as sessions start and end.
 */
import type { HardwareClaim, JobSpec } from '../../protocol/schemas.ts';
import type { WorkState } from './workState.ts';

const renderers = new WeakMap<WorkState, Map<string, string>>();
/** The training backends (`<name>@<release>`) each connected provider claims, where it claims any. */
const trainers = new WeakMap<WorkState, Map<string, readonly string[]>>();

function trainersOf(s: WorkState): Map<string, readonly string[]> {
  let m = trainers.get(s);
  if (!m) {
    m = new Map();
    trainers.set(s, m);
  }
  return m;
}
/** Memory (MiB) and GPU of each connected provider's claim: whether it could ever take a task. */
const capacities = new WeakMap<WorkState, Map<string, { memoryMiB: number; gpu: boolean }>>();

function capacityOf(s: WorkState): Map<string, { memoryMiB: number; gpu: boolean }> {
  let m = capacities.get(s);
  if (!m) {
    m = new Map();
    capacities.set(s, m);
  }
  return m;
}

function of(s: WorkState): Map<string, string> {
  let m = renderers.get(s);
  if (!m) {
    m = new Map();
    renderers.set(s, m);
  }
  return m;
}

/** A provider's session started: remember its Blender version (or that it has none) and its capacity. */
export function recordRenderer(s: WorkState, address: string, hardware: HardwareClaim): void {
  capacityOf(s).set(address.toLowerCase(), {
    memoryMiB: Math.floor(hardware.memoryBytes / 1024 / 1024),
    gpu: hardware.executionProviders.includes('cuda') && hardware.gpus.length > 0,
  });
  if (hardware.blender) of(s).set(address.toLowerCase(), hardware.blender.version);
  else of(s).delete(address.toLowerCase());
  if (hardware.trainBackends) trainersOf(s).set(address.toLowerCase(), hardware.trainBackends);
  else trainersOf(s).delete(address.toLowerCase());
}

/**
 * Whether a connected provider could render a frame of a job that pins Blender major `major`
 * (any version when undefined): it claims Blender, of that major version.
 *
 * @example if (canRender(state, provider, spec.render.blenderMajor)) issueCheck();
 */
export function canRender(s: WorkState, address: string, major: number | undefined): boolean {
  const version = of(s).get(address.toLowerCase());
  return version !== undefined && (major === undefined || Number(version.split('.')[0]) === major);
}

/** A provider's session ended. */
export function forgetRenderer(s: WorkState, address: string): void {
  of(s).delete(address.toLowerCase());
  capacityOf(s).delete(address.toLowerCase());
  trainersOf(s).delete(address.toLowerCase());
}

/**
 * Whether a connected provider's claimed hardware could take a task with these requirements once
 * it has a free slot (memory and GPU; other exclusions are the caller's). A provider never seen
 * here (no hello yet) could not.
 *
 * @example if (couldRun(state, a, { minMemoryMiB: 512, gpu: false })) waitFor(a);
 */
export function couldRun(
  s: WorkState,
  address: string,
  req: { minMemoryMiB: number; gpu: boolean },
): boolean {
  const c = capacityOf(s).get(address.toLowerCase());
  return c !== undefined && c.memoryMiB >= req.minMemoryMiB && (!req.gpu || c.gpu);
}

/**
 * Connected providers that must not get a task of `spec`: for a render job every provider without
 * Blender, or with another major version than the job pins; for a training job every provider
 * whose claimed TF.js backends lack the job's; for other kinds none.
 *
 * @example for (const a of cannotRun(state, job.spec)) exclude.add(a);
 */
export function cannotRun(s: WorkState, spec: JobSpec): string[] {
  if (spec.kind === 'train.diloco') {
    // A provider claiming its training backends but not the job's (docs/training.md "The spec").
    const pinned = `${spec.backend.name}@${spec.backend.version}`;
    return [...s.links.keys()].filter((a) => {
      const claimed = trainersOf(s).get(a.toLowerCase());
      return claimed !== undefined && !claimed.includes(pinned);
    });
  }
  if (spec.kind !== 'blender.render') return [];
  const m = of(s);
  const major = spec.render.blenderMajor;
  return [...s.links.keys()].filter((a) => {
    const version = m.get(a.toLowerCase());
    return version === undefined || (major !== undefined && Number(version.split('.')[0]) !== major);
  });
}

/**
 * The blob a task's placement prefers providers caching: the job's model, except for a render
 * frame. A frame runs for seconds and every provider caches the `.blend` after its first frame, so
 * preferring the providers that cache it piled each one's prefetch slots (four leases per render
 * slot) with frames while other providers idled at the end of the job (the benchmark's devnet ran
 * 4 frames on one provider and 2 on the other: throughput ratio 0.75). Render frames are placed by
 * load alone (the key is their own descriptor, which nobody caches).
 *
 * @example scheduler.pick({ model: placementKey(job.spec, task.input_cid), minMemoryMiB, gpu });
 */
export function placementKey(spec: JobSpec, inputCid: string): string {
  return spec.kind === 'blender.render' ? inputCid : spec.model;
}
