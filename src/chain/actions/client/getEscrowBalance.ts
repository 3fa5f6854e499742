import type { Address } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusReader } from '../../types.ts';

/** A client's escrow position. */
export type EscrowBalance = {
  /** Deposited and not yet charged or withdrawn (includes a pending withdrawal, which stays chargeable). */
  balance: bigint;
  /** The pending withdrawal, if any. */
  pendingWithdrawal: { amount: bigint; readyAt: bigint } | undefined;
};

/**
 * Reads `client`'s escrow balance and pending withdrawal.
 *
 * @example
 * const { balance, pendingWithdrawal } = await getEscrowBalance(ctx, client);
 */
export async function getEscrowBalance(ctx: PlexusReader, client: Address): Promise<EscrowBalance> {
  const common = { address: ctx.addresses.escrow, abi: plexusAbis.escrow, args: [client] } as const;
  const [balance, w] = await Promise.all([
    ctx.publicClient.readContract({ ...common, functionName: 'balanceOf' }),
    ctx.publicClient.readContract({ ...common, functionName: 'pendingWithdrawal' }),
  ]);
  return {
    balance,
    pendingWithdrawal: w.amount === 0n ? undefined : { amount: w.amount, readyAt: BigInt(w.readyAt) },
  };
}
