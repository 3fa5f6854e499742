/**
 * The coordinator network's signature over each epoch claim (docs/validators.md, "Whose claim"):
 * every replica of one network holds the same key (its network identity: the key that sends its
 * finalize transactions) and signs, per closed epoch, the sha256 of the evidence bundle it serves.
 * A validator configured with that key's address acts only on a bundle so signed, so a server
 * listed as a replica, or standing in front of one, cannot get an epoch of its own making signed.
 * EIP-712, bound to the chain and the settlement contract; its own domain name and type, so it is
 * never a valid signature of anything else. Shared by the coordinator and the validator.
 */
import { type Address, type Hex, isAddress, isHex, type LocalAccount, recoverTypedDataAddress } from 'viem';

/** Where a claim counts: the chain and the settlement contract its epochs settle on. */
export type ClaimTarget = { chainId: number; settlement: Address };

/** The signature a coordinator attaches to its claim (`GET /v1/epochs/:epoch/claim`, `coordinator`). */
export type CoordinatorClaimSignature = { signer: Address; signature: Hex };

const types = {
  EpochClaim: [
    { name: 'epoch', type: 'uint256' },
    { name: 'evidenceHash', type: 'bytes32' },
  ],
} as const;

function typedData(target: ClaimTarget, epoch: number, evidenceHash: Hex) {
  return {
    domain: {
      name: 'Plexus coordinator',
      version: '1',
      chainId: target.chainId,
      verifyingContract: target.settlement,
    },
    types,
    primaryType: 'EpochClaim' as const,
    message: { epoch: BigInt(epoch), evidenceHash },
  };
}

/**
 * Signs "epoch `epoch`'s evidence is the bundle of sha256 `evidenceHash`" with the network's key.
 * Deterministic (RFC 6979): every replica gives the same bytes.
 *
 * @example
 * const sig = await signEpochClaim(submitter, { chainId, settlement }, 4, evidenceHash);
 */
export async function signEpochClaim(
  account: LocalAccount,
  target: ClaimTarget,
  epoch: number,
  evidenceHash: Hex,
): Promise<CoordinatorClaimSignature> {
  return {
    signer: account.address,
    signature: await account.signTypedData(typedData(target, epoch, evidenceHash)),
  };
}

/**
 * Why a claim's signature is not the network's (null: it is): `expected` signed epoch `epoch`'s
 * bundle `evidenceHash` for `target`, or the reason it did not.
 *
 * @example
 * const wrong = await claimSignatureProblem(claim.coordinator, expected, target, 4, hash); // null when signed
 */
export async function claimSignatureProblem(
  sig: unknown,
  expected: Address,
  target: ClaimTarget,
  epoch: number,
  evidenceHash: Hex,
): Promise<string | null> {
  const s = sig as Partial<CoordinatorClaimSignature> | null | undefined;
  if (!s || typeof s !== 'object' || !isHex(s.signature)) return 'unsigned';
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({
      ...typedData(target, epoch, evidenceHash),
      signature: s.signature,
    });
  } catch {
    return 'an unreadable signature';
  }
  if (!isAddress(expected) || signer.toLowerCase() !== expected.toLowerCase()) return `signed by ${signer}`;
  return null;
}
