import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Asks to withdraw `amount` from the writer's escrow balance; executable after the escrow's
 * withdrawal delay. Charges earned meanwhile still settle from it.
 *
 * @example
 * await requestWithdrawal(ctx, 40n * PLX);
 */
export async function requestWithdrawal(ctx: PlexusWriter, amount: bigint): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'requestWithdrawal',
    args: [amount],
  });
}
