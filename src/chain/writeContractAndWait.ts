import type { Abi, Address } from 'viem';
import { ChainRevertError, toChainError } from './ChainRevertError.ts';
import type { PlexusWriter, TxResult } from './types.ts';

/** One contract call to send. */
export type ContractCall = {
  address: Address;
  abi: Abi | readonly unknown[];
  functionName: string;
  args: readonly unknown[];
};

/**
 * Simulates a call (so a revert surfaces as a ChainRevertError before anything is sent), sends
 * it from the writer's account, and waits for the receipt. The typed actions in `actions/` are
 * thin wrappers around this.
 *
 * @example
 * const { gasUsed } = await writeContractAndWait(ctx, {
 *   address: ctx.addresses.escrow, abi: plexusAbis.escrow, functionName: 'deposit', args: [10n ** 18n],
 * });
 */
export async function writeContractAndWait(ctx: PlexusWriter, call: ContractCall): Promise<TxResult> {
  const { publicClient, walletClient } = ctx;
  // The actions are typed at their own signatures; viem's generic inference over an arbitrary
  // ABI adds nothing here, hence the one cast.
  const params = { ...call, account: walletClient.account, chain: walletClient.chain } as never;
  let hash: `0x${string}`;
  try {
    const { request } = await publicClient.simulateContract(params);
    hash = await walletClient.writeContract(request as never);
  } catch (err) {
    throw toChainError(err, call.functionName);
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') {
    // It simulated fine but reverted when mined: the chain changed in between (another transaction
    // landed first). The reason is not in the receipt; the caller should re-read state and retry.
    throw new ChainRevertError(
      call.functionName,
      undefined,
      [],
      new Error(`transaction ${hash} reverted when mined`),
    );
  }
  return { hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber };
}
