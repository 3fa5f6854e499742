import type { HardwareClaim } from '../../protocol/schemas.ts';
import type { BlenderInfo } from '../../runtimes/blender/probeBlender.ts';

/**
 * The Blender part of a provider's hardware claim: absent without Blender, so the coordinator
 * never leases it render work.
 *
 * @example const claim = { ...hardwareClaim(hw, { useGpu }), ...blenderClaim(blender) };
 */
export function blenderClaim(blender: BlenderInfo | undefined): Pick<HardwareClaim, 'blender'> {
  return blender ? { blender: { version: blender.version, devices: blender.devices } } : {};
}

/** Render threads per task: the agent's cores shared by its slots (at least one). */
export function renderThreads(cores: number, slots: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, slots)));
}
