import { plexusAbis } from '../abis.ts';
import type { PlexusReader } from '../types.ts';

/** The numbers a deployment was built with (constructor arguments; they never change). */
export type ProtocolParameters = {
  /** Least bonded stake of an active provider, in PLX base units. */
  minStake: bigint;
  /** Seconds between `requestUnbonding` and `withdrawUnbonded`. */
  unbondingPeriod: bigint;
  /** Seconds between `requestWithdrawal` and `executeWithdrawal` (at least one epoch). */
  withdrawalDelay: bigint;
  /** Seconds per epoch. */
  epochDuration: bigint;
};

/**
 * Reads the registry's, escrow's and settlement's fixed parameters from the chain.
 *
 * @example
 * const { minStake, withdrawalDelay } = await getProtocolParameters(ctx);
 */
export async function getProtocolParameters(ctx: PlexusReader): Promise<ProtocolParameters> {
  const { publicClient, addresses } = ctx;
  const [minStake, unbondingPeriod, withdrawalDelay, epochDuration] = await Promise.all([
    publicClient.readContract({
      address: addresses.registry,
      abi: plexusAbis.registry,
      functionName: 'minStake',
    }),
    publicClient.readContract({
      address: addresses.registry,
      abi: plexusAbis.registry,
      functionName: 'unbondingPeriod',
    }),
    publicClient.readContract({
      address: addresses.escrow,
      abi: plexusAbis.escrow,
      functionName: 'withdrawalDelay',
    }),
    publicClient.readContract({
      address: addresses.settlement,
      abi: plexusAbis.settlement,
      functionName: 'epochDuration',
    }),
  ]);
  return { minStake, unbondingPeriod, withdrawalDelay, epochDuration };
}
