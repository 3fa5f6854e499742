import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';
import { ensureAllowance } from '../ensureAllowance.ts';

/**
 * Adds `amount` PLX to the writer's bonded stake, approving the registry first if needed.
 *
 * @example
 * await addStake(ctx, 500n * PLX);
 */
export async function addStake(ctx: PlexusWriter, amount: bigint): Promise<TxResult> {
  await ensureAllowance(ctx, ctx.addresses.registry, amount);
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'addStake',
    args: [amount],
  });
}
