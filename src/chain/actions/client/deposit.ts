import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';
import { ensureAllowance } from '../ensureAllowance.ts';

/**
 * Deposits `amount` PLX into the writer's escrow balance, approving the escrow first if needed
 * (depositWithPermit does it in one transaction).
 *
 * @example
 * await deposit(ctx, 100n * PLX);
 */
export async function deposit(ctx: PlexusWriter, amount: bigint): Promise<TxResult> {
  await ensureAllowance(ctx, ctx.addresses.escrow, amount);
  return writeContractAndWait(ctx, {
    address: ctx.addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'deposit',
    args: [amount],
  });
}
