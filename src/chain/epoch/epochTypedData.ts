import { type Address, type Hex, hashTypedData } from 'viem';
import { FINALIZE_EPOCH_TYPES, SETTLEMENT_DOMAIN } from '../constants.ts';
import type { EpochPayload } from '../types.ts';

/** The on-chain struct form of an EpochPayload (parallel arrays, as EpochSettlement takes it). */
export type EpochPayloadStruct = {
  epoch: bigint;
  rewardsRoot: Hex;
  totalEarned: bigint;
  chargeClients: readonly Address[];
  chargeAmounts: readonly bigint[];
  slashProviders: readonly Address[];
  slashAmounts: readonly bigint[];
  emission: bigint;
  evidenceHash: Hex;
};

/**
 * Converts an EpochPayload to the struct EpochSettlement takes and validators sign.
 *
 * @example
 * const struct = toEpochStruct({ epoch: 1n, rewardsRoot, totalEarned, charges: [], slashes: [], emission: 0n });
 */
export function toEpochStruct(p: EpochPayload): EpochPayloadStruct {
  return {
    epoch: p.epoch,
    rewardsRoot: p.rewardsRoot,
    totalEarned: p.totalEarned,
    chargeClients: p.charges.map((c) => c.client),
    chargeAmounts: p.charges.map((c) => c.amount),
    slashProviders: p.slashes.map((s) => s.provider),
    slashAmounts: p.slashes.map((s) => s.amount),
    emission: p.emission,
    evidenceHash: p.evidenceHash,
  };
}

/**
 * The EIP-712 typed data validators sign for an epoch: domain "Plexus EpochSettlement" v1, bound
 * to `chainId` and the settlement contract's address.
 *
 * @example
 * const typedData = epochTypedData({ chainId: 31337, settlement }, payload);
 * const signature = await account.signTypedData(typedData);
 */
export function epochTypedData(target: { chainId: number; settlement: Address }, payload: EpochPayload) {
  return {
    domain: { ...SETTLEMENT_DOMAIN, chainId: target.chainId, verifyingContract: target.settlement },
    types: FINALIZE_EPOCH_TYPES,
    primaryType: 'FinalizeEpoch' as const,
    message: toEpochStruct(payload),
  };
}

/**
 * The EIP-712 digest of an epoch payload (what `EpochSettlement.hashEpoch` returns).
 *
 * @example
 * const digest = hashEpoch({ chainId: 31337, settlement }, payload);
 */
export function hashEpoch(target: { chainId: number; settlement: Address }, payload: EpochPayload): Hex {
  return hashTypedData(epochTypedData(target, payload));
}
