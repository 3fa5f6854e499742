/** What `startProvider` (startProvider.ts) is started with. */
import type { LocalAccount } from 'viem';
import type { Logger } from '../../logger.ts';
import type { HardwareProfile } from '../hardware/probeHardware.ts';
import type { StorageBehaviour } from '../storage/storageCheats.ts';
import type { AgentBehaviour } from './behaviour.ts';

export type ProviderOptions = {
  coordinatorUrl: string;
  account: LocalAccount;
  dataDir: string;
  /** Tasks run at once (each is one onnxruntime run in its own worker process). */
  slots?: number;
  /**
   * Tasks leased on top of those running, so the next task's input downloads while the current one
   * runs (default: three per slot, enough to hide a loopback round trip behind a short inference). The coordinator sees `slots + prefetch` lease slots.
   */
  prefetch?: number;
  /**
   * CPU cores the onnxruntime workers may use together, divided among the slots (default: all).
   * Fewer leave cores to whatever else runs on the machine (the devnet's providers share one machine
   * with the coordinator, docs/benchmarks.md "e2e-overhead").
   */
  cores?: number;
  /** Disk budget of the blob cache. */
  cacheBudgetBytes?: number;
  region?: string;
  /** Use the CUDA execution provider when the machine has one. */
  useGpu?: boolean;
  /** How long SIGTERM waits for running tasks before giving up on them. */
  drainTimeoutMs?: number;
  log?: Logger;
  /** Overrides the hardware probe (tests that pretend to be another machine). */
  hardware?: HardwareProfile;
  /** Adversary harness for verification tests only (behaviour.ts): misbehave with own outputs. */
  behaviour?: AgentBehaviour;
  /** Blender for render tasks (default `blender` on the PATH; `none`: no render work). */
  blenderPath?: string;
  /** Keep a Blender per scene warm between render tasks (default true; warmBlender.ts). */
  warmBlender?: boolean;
  /**
   * Least price per resource unit this provider works for, per class (`cpu`, `gpu:<model>`), in
   * PLX base units; signed into the session. Absent: the network defaults (docs/market.md).
   */
  floorPrices?: Record<string, bigint>;
  /** When the agent reads whether it is eligible for work (eligibilityWatch.ts; tests shorten it). */
  eligibilityCheck?: { firstDelayMs?: number; intervalMs?: number };
  /** Disk offered to the storage network (issue 19): bytes, folder, and (tests only) a cheat. */
  storage?: {
    capacityBytes: number;
    dir?: string;
    behaviour?: StorageBehaviour;
    /** `--serve-address HOST:PORT`: serve pieces directly (servePieces.ts). */
    serveAddress?: string;
  };
};

/**
 * The claim's `floorPrices` (decimal strings of base units per class), or nothing to add.
 *
 * @example const claim = { ...floorPriceClaim({ cpu: 5n }) }; // { floorPrices: { cpu: '5' } }
 */
export function floorPriceClaim(prices: Record<string, bigint> | undefined): {
  floorPrices?: Record<string, string>;
} {
  if (!prices) return {};
  return { floorPrices: Object.fromEntries(Object.entries(prices).map(([cls, p]) => [cls, p.toString()])) };
}
