import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Moves everything the writer has unbonding back to bonded stake.
 *
 * @example
 * await cancelUnbonding(ctx);
 */
export async function cancelUnbonding(ctx: PlexusWriter): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'cancelUnbonding',
    args: [],
  });
}
