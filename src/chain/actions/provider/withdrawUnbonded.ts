import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Withdraws the writer's unbonded stake once the unbonding period is over (reverts with
 * `UnbondingNotReady(readyAt, now)` before).
 *
 * @example
 * await withdrawUnbonded(ctx);
 */
export async function withdrawUnbonded(ctx: PlexusWriter): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'withdrawUnbonded',
    args: [],
  });
}
