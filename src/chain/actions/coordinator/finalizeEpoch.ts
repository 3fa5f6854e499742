/**
 * Finalizing an epoch on chain, as two actions — send, then wait — so settlement can store the
 * transaction hash in between and, after a crash, wait for that same transaction instead of
 * sending another; `finalizeEpoch` composes them for callers that need neither.
 */
import { type Hex, parseEventLogs } from 'viem';
import { plexusAbis } from '../../abis.ts';
import { toEpochStruct } from '../../epoch/epochTypedData.ts';
import type { EpochPayload, EpochSignature, PlexusReader, PlexusWriter, TxResult } from '../../types.ts';
import { type MinedTx, sendContractCall, waitForContractCall } from '../../writeContractAndWait.ts';

/**
 * Sends an epoch with its validator signatures (any order: they are sorted by signer address
 * here, as the contract requires) and returns the transaction hash without waiting. It is
 * simulated first, so reverts surface here as ChainRevertError, for example
 * `UnexpectedEpoch(expected, epoch)`, `EpochNotEnded(epoch, endsAt)`, `InsufficientSignatures`,
 * `NotAValidator(signer)`, `InsufficientEscrowBalance(client, balance, needed)`.
 *
 * @example
 * const hash = await sendFinalizeEpoch(ctx, payload, sigs);
 * await store.saveHash(hash); // then: await waitForFinalizeEpoch(ctx, hash)
 */
export async function sendFinalizeEpoch(
  ctx: PlexusWriter,
  payload: EpochPayload,
  signatures: readonly EpochSignature[],
): Promise<Hex> {
  const sorted = [...signatures].sort((a, b) => {
    const x = BigInt(a.signer);
    const y = BigInt(b.signer);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return sendContractCall(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'finalizeEpoch',
    args: [toEpochStruct(payload), sorted.map((s) => s.signature)],
  });
}

/**
 * A mined finalize transaction: its receipt figures and the epochs its EpochFinalized events name.
 *
 * @example
 * const { epochsFinalized }: FinalizedTx = await waitForFinalizeEpoch(ctx, hash); // [4n]
 */
export type FinalizedTx = MinedTx & { epochsFinalized: bigint[] };

/**
 * Waits for a finalize transaction sent earlier (by this process or one before a restart). Throws
 * ChainRevertError when it was mined but reverted (another finalize landed first), and viem's
 * error when `timeoutMs` passes or the RPC fails.
 *
 * @example
 * const { gasUsed, epochsFinalized } = await waitForFinalizeEpoch(ctx, hash, { timeoutMs: 30_000 });
 */
export async function waitForFinalizeEpoch(
  ctx: PlexusReader,
  hash: Hex,
  opts: { timeoutMs?: number } = {},
): Promise<FinalizedTx> {
  const mined = await waitForContractCall(ctx, hash, 'finalizeEpoch', opts);
  const events = parseEventLogs({
    abi: plexusAbis.settlement,
    logs: mined.logs,
    eventName: 'EpochFinalized',
  });
  return { ...mined, epochsFinalized: events.map((e) => e.args.epoch) };
}

/**
 * Sends an epoch with its validator signatures and waits for it (`sendFinalizeEpoch` then
 * `waitForFinalizeEpoch`). Reverts surface as ChainRevertError (see `sendFinalizeEpoch`).
 *
 * @example
 * const sigs = await Promise.all(validators.map((v) => signEpoch(v, { chainId, settlement }, payload)));
 * await finalizeEpoch(ctx, payload, sigs);
 */
export async function finalizeEpoch(
  ctx: PlexusWriter,
  payload: EpochPayload,
  signatures: readonly EpochSignature[],
): Promise<TxResult> {
  const { hash, gasUsed, blockNumber } = await waitForFinalizeEpoch(
    ctx,
    await sendFinalizeEpoch(ctx, payload, signatures),
  );
  return { hash, gasUsed, blockNumber };
}
