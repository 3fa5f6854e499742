import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Cancels the writer's pending escrow withdrawal.
 *
 * @example
 * await cancelWithdrawal(ctx);
 */
export async function cancelWithdrawal(ctx: PlexusWriter): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'cancelWithdrawal',
    args: [],
  });
}
