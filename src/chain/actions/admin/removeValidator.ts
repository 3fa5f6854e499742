import type { Address } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Removes `validator` from the settlement's validator set (owner only; fails with `InvalidThreshold` if fewer than the threshold would remain).
 *
 * @example
 * await removeValidator(ownerCtx, validatorAddress);
 */
export async function removeValidator(ctx: PlexusWriter, validator: Address): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'removeValidator',
    args: [validator],
  });
}
