import type { Address } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Adds `validator` to the settlement's validator set (owner only).
 *
 * @example
 * await addValidator(ownerCtx, validatorAddress);
 */
export async function addValidator(ctx: PlexusWriter, validator: Address): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'addValidator',
    args: [validator],
  });
}
