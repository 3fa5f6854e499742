import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Executes the writer's pending withdrawal once the delay is over (reverts with
 * `WithdrawalNotReady(readyAt, now)` before); pays the requested amount or what is left of it.
 *
 * @example
 * await executeWithdrawal(ctx);
 */
export async function executeWithdrawal(ctx: PlexusWriter): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'executeWithdrawal',
    args: [],
  });
}
