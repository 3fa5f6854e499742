import type { HardwareClaim } from '../../protocol/schemas.ts';
import { CPU_CLASS, CPU_UNIT, GPU_UNIT } from './constants.ts';

/**
 * The GPU class of a provider's hardware (`gpu:<slug of its first GPU's name>`), or undefined when
 * it has no CUDA GPU.
 *
 * @example
 * gpuClassOf({ ...hw, gpus: [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }], executionProviders: ['cuda'] }); // 'gpu:nvidia-h100-80gb-hbm3'
 */
export function gpuClassOf(hw: Pick<HardwareClaim, 'gpus' | 'executionProviders'>): string | undefined {
  const gpu = hw.gpus[0];
  if (!gpu || !hw.executionProviders.includes('cuda')) return undefined;
  const slug = gpu.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return `gpu:${slug || 'unknown'}`;
}

/**
 * The class a task is billed in: a GPU job on a GPU provider is billed in that provider's GPU
 * class, everything else as CPU work.
 *
 * @example
 * taskClass(false, hw); // 'cpu'
 */
export function taskClass(
  jobNeedsGpu: boolean,
  hw: Pick<HardwareClaim, 'gpus' | 'executionProviders'>,
): string {
  return (jobNeedsGpu && gpuClassOf(hw)) || CPU_CLASS;
}

/**
 * The unit a class is priced in.
 *
 * @example
 * unitOf('cpu'); // 'cpu-core-second'
 */
export function unitOf(cls: string): string {
  return cls === CPU_CLASS ? CPU_UNIT : GPU_UNIT;
}
