import type { Address } from 'viem';
import { plexusAbis } from '../abis.ts';
import type { PlexusWriter, TxResult } from '../types.ts';
import { writeContractAndWait } from '../writeContractAndWait.ts';

/**
 * Approves `spender` for `amount` PLX from the writer's account unless the allowance already covers it.
 *
 * @example
 * await ensureAllowance(ctx, ctx.addresses.registry, stake); // undefined when no approval was needed
 */
export async function ensureAllowance(
  ctx: PlexusWriter,
  spender: Address,
  amount: bigint,
): Promise<TxResult | undefined> {
  const allowance = await ctx.publicClient.readContract({
    address: ctx.addresses.token,
    abi: plexusAbis.token,
    functionName: 'allowance',
    args: [ctx.walletClient.account.address, spender],
  });
  if (allowance >= amount) return undefined;
  return writeContractAndWait(ctx, {
    address: ctx.addresses.token,
    abi: plexusAbis.token,
    functionName: 'approve',
    args: [spender, amount],
  });
}
