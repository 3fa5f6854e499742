import type { Address } from 'viem';
import { plexusAbis } from '../abis.ts';
import type { PlexusWriter, TxResult } from '../types.ts';
import { writeContractAndWait } from '../writeContractAndWait.ts';

/**
 * Sends `amount` PLX from the writer's account to `to` (the devnet funds providers and clients from the treasury this way).
 *
 * @example
 * await transferPlx(treasuryCtx, provider, 5_000n * PLX);
 */
export async function transferPlx(ctx: PlexusWriter, to: Address, amount: bigint): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.token,
    abi: plexusAbis.token,
    functionName: 'transfer',
    args: [to, amount],
  });
}
