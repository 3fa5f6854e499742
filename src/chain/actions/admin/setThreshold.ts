import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Sets how many validator signatures finalize an epoch (owner only; 1 to the validator count).
 *
 * @example
 * await setThreshold(ownerCtx, 3);
 */
export async function setThreshold(ctx: PlexusWriter, threshold: number): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'setThreshold',
    args: [BigInt(threshold)],
  });
}
