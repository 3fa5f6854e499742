import type { HardwareClaim } from '../../protocol/schemas.ts';
import type { HardwareProfile } from './probeHardware.ts';

/**
 * What a provider claims about its machine, from its hardware probe: the same object the agent
 * sends (and signs the hash of) when its session starts. Without `useGpu` the CUDA execution
 * provider is left out, as `plexus provider start --no-gpu` does.
 *
 * @example
 * const claim = hardwareClaim(await probeHardware(), { useGpu: true });
 */
export function hardwareClaim(hardware: HardwareProfile, opts: { useGpu: boolean }): HardwareClaim {
  const gpu = opts.useGpu && hardware.executionProviders.includes('cuda');
  return {
    cpuModel: hardware.cpuModel,
    cpuCores: hardware.cpuCores,
    memoryBytes: hardware.memoryBytes,
    gpus: hardware.gpus.map((g) => ({ name: g.name, memoryMiB: g.memoryMiB })),
    executionProviders: gpu
      ? hardware.executionProviders
      : hardware.executionProviders.filter((e) => e !== 'cuda'),
  };
}
