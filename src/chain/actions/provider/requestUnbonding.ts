import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Starts unbonding `amount` of the writer's stake; the provider takes no new work until it is
 * withdrawn (after the unbonding period) or cancelled.
 *
 * @example
 * await requestUnbonding(ctx, 1_000n * PLX);
 */
export async function requestUnbonding(ctx: PlexusWriter, amount: bigint): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'requestUnbonding',
    args: [amount],
  });
}
