import type { Address } from 'viem';
import { plexusAbis } from '../abis.ts';
import type { PlexusReader } from '../types.ts';

/**
 * PLX balance of `account`, in base units.
 *
 * @example
 * const balance = await getPlxBalance(ctx, provider); // 1000000000000000000000n
 */
export async function getPlxBalance(ctx: PlexusReader, account: Address): Promise<bigint> {
  return ctx.publicClient.readContract({
    address: ctx.addresses.token,
    abi: plexusAbis.token,
    functionName: 'balanceOf',
    args: [account],
  });
}
