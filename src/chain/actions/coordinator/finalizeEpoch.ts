import { plexusAbis } from '../../abis.ts';
import { toEpochStruct } from '../../epoch/epochTypedData.ts';
import type { EpochPayload, EpochSignature, PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Submits an epoch with its validator signatures (any order: they are sorted by signer address
 * here, as the contract requires). Reverts surface as ChainRevertError, for example
 * `UnexpectedEpoch(expected, epoch)`, `EpochNotEnded(epoch, endsAt)`, `InsufficientSignatures`,
 * `NotAValidator(signer)`, `InsufficientEscrowBalance(client, balance, needed)`.
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
  const sorted = [...signatures].sort((a, b) => {
    const x = BigInt(a.signer);
    const y = BigInt(b.signer);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return writeContractAndWait(ctx, {
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName: 'finalizeEpoch',
    args: [toEpochStruct(payload), sorted.map((s) => s.signature)],
  });
}
