import type { Address, LocalAccount } from 'viem';
import type { EpochPayload, EpochSignature } from '../types.ts';
import { epochTypedData } from './epochTypedData.ts';

/**
 * A validator signs an epoch payload (EIP-712, bound to the chain and the settlement contract).
 *
 * @example
 * const sig = await signEpoch(privateKeyToAccount(key), { chainId: 31337, settlement }, payload);
 */
export async function signEpoch(
  validator: LocalAccount,
  target: { chainId: number; settlement: Address },
  payload: EpochPayload,
): Promise<EpochSignature> {
  const signature = await validator.signTypedData(epochTypedData(target, payload));
  return { signer: validator.address, signature };
}
