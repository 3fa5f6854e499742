import type { Address, Hex } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Claims `account`'s rewards: pays it its cumulative amount minus what it already claimed. Anyone
 * may send it (the writer pays the gas); the tokens always go to `account`.
 *
 * @example
 * const claim = rewards.claimFor(provider)!; // from buildRewardsTree, or the coordinator's API
 * await claimRewards(ctx, claim);
 */
export async function claimRewards(
  ctx: PlexusWriter,
  claim: { account: Address; cumulativeAmount: bigint; proof: readonly Hex[] },
): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'claim',
    args: [claim.account, claim.cumulativeAmount, claim.proof],
  });
}
