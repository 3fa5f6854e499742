import type { Address } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusReader } from '../../types.ts';

/**
 * How much `account` has claimed so far (its cumulative amount at its last claim).
 *
 * @example
 * const claimable = cumulativeAmount - (await getClaimed(ctx, provider));
 */
export async function getClaimed(ctx: PlexusReader, account: Address): Promise<bigint> {
  return ctx.publicClient.readContract({
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'claimed',
    args: [account],
  });
}
