import type { Abi, Address, Hex, Log } from 'viem';
import { ChainRevertError, toChainError } from './ChainRevertError.ts';
import type { PlexusReader, PlexusWriter, TxResult } from './types.ts';

/** One contract call to send. */
export type ContractCall = {
  address: Address;
  abi: Abi | readonly unknown[];
  functionName: string;
  args: readonly unknown[];
};

/**
 * Simulates a call (so a revert surfaces as a ChainRevertError before anything is sent) and sends
 * it from the writer's account, returning the transaction hash without waiting for it. A caller
 * that must survive a crash between sending and mining stores the hash, then waits with
 * `waitForContractCall`.
 *
 * @example
 * const hash = await sendContractCall(ctx, {
 *   address: ctx.addresses.escrow, abi: plexusAbis.escrow, functionName: 'deposit', args: [10n ** 18n],
 * });
 */
export async function sendContractCall(ctx: PlexusWriter, call: ContractCall): Promise<Hex> {
  const { publicClient, walletClient } = ctx;
  // The actions are typed at their own signatures; viem's generic inference over an arbitrary
  // ABI adds nothing here, hence the one cast.
  const params = { ...call, account: walletClient.account, chain: walletClient.chain } as never;
  try {
    const { request } = await publicClient.simulateContract(params);
    return await walletClient.writeContract(request as never);
  } catch (err) {
    throw toChainError(err, call.functionName);
  }
}

/**
 * A mined, successful transaction and its logs.
 *
 * @example
 * const { hash, gasUsed, logs }: MinedTx = await waitForContractCall(ctx, hash, 'deposit');
 */
export type MinedTx = TxResult & { logs: Log[] };

/**
 * Waits for a sent transaction's receipt. Throws a ChainRevertError naming `functionName` when it
 * was mined but reverted, and viem's error when the wait times out (`timeoutMs`) or the RPC fails.
 *
 * @example
 * const { gasUsed, logs } = await waitForContractCall(ctx, hash, 'deposit', { timeoutMs: 30_000 });
 */
export async function waitForContractCall(
  ctx: PlexusReader,
  hash: Hex,
  functionName: string,
  opts: { timeoutMs?: number } = {},
): Promise<MinedTx> {
  const receipt = await ctx.publicClient.waitForTransactionReceipt(
    opts.timeoutMs === undefined ? { hash } : { hash, timeout: opts.timeoutMs },
  );
  if (receipt.status !== 'success') {
    // It simulated fine but reverted when mined: the chain changed in between (another transaction
    // landed first). The reason is not in the receipt; the caller should re-read state and retry.
    throw new ChainRevertError(
      functionName,
      undefined,
      [],
      new Error(`transaction ${hash} reverted when mined`),
    );
  }
  return { hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber, logs: receipt.logs };
}

/**
 * Simulates a call, sends it from the writer's account, and waits for the receipt
 * (`sendContractCall` then `waitForContractCall`). The typed actions in `actions/` are thin
 * wrappers around this.
 *
 * @example
 * const { gasUsed } = await writeContractAndWait(ctx, {
 *   address: ctx.addresses.escrow, abi: plexusAbis.escrow, functionName: 'deposit', args: [10n ** 18n],
 * });
 */
export async function writeContractAndWait(ctx: PlexusWriter, call: ContractCall): Promise<TxResult> {
  const hash = await sendContractCall(ctx, call);
  const { gasUsed, blockNumber } = await waitForContractCall(ctx, hash, call.functionName);
  return { hash, gasUsed, blockNumber };
}
