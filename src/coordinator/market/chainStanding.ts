/**
 * A provider's standing in the on-chain registry as the market last read it (kept after a
 * disconnect): what decides whether it is active, with the registry's minimum stake.
 */
import { plexusAbis } from '../../chain/abis.ts';
import type { PlexusReader } from '../../chain/types.ts';

/** What the registry said of a provider at the last read (see Market.standingOf). */
export type ChainStanding = {
  registered: boolean;
  active: boolean;
  stake: bigint;
  unbonding: bigint;
  /** Unix seconds when the unbonding stake can be withdrawn (0n: none). */
  unbondingReadyAt: bigint;
  minStake: bigint | undefined;
};

/**
 * The registry's minimum stake, in PLX base units.
 *
 * @example const min = await readMinStake(chain);
 */
export async function readMinStake(chain: PlexusReader): Promise<bigint> {
  return chain.publicClient.readContract({
    address: chain.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'minStake',
  });
}
