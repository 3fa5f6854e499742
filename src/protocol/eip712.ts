import {
  type Address,
  type Hex,
  hashTypedData,
  type LocalAccount,
  recoverTypedDataAddress,
  type TypedDataDomain,
} from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';
import { MAX_MESSAGE_SKEW_SEC } from './constants.ts';

/**
 * EIP-712 types of every off-chain assertion in Plexus. Each carries `issuedAt` (unix seconds)
 * for freshness; the domain binds it to one chain id, so a message for one network is useless
 * on another. On-chain messages (epoch approvals) live with the contracts.
 */
export const plexusTypes = {
  JobSubmission: [
    { name: 'client', type: 'address' },
    { name: 'specHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'maxPricePerUnit', type: 'uint256' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  SessionAuth: [
    { name: 'provider', type: 'address' },
    { name: 'challenge', type: 'bytes32' },
    { name: 'capabilitiesHash', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  TaskResult: [
    { name: 'provider', type: 'address' },
    { name: 'assignmentId', type: 'bytes32' },
    { name: 'taskId', type: 'bytes32' },
    { name: 'outputCid', type: 'bytes32' },
    { name: 'wallMs', type: 'uint64' },
    { name: 'cpuMs', type: 'uint64' },
    { name: 'peakRssBytes', type: 'uint64' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  TaskCommitment: [
    { name: 'provider', type: 'address' },
    { name: 'assignmentId', type: 'bytes32' },
    { name: 'taskId', type: 'bytes32' },
    { name: 'commitment', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  TaskFailure: [
    { name: 'provider', type: 'address' },
    { name: 'assignmentId', type: 'bytes32' },
    { name: 'taskId', type: 'bytes32' },
    { name: 'reasonHash', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
} as const;

export type PlexusPrimaryType = keyof typeof plexusTypes;

export type JobSubmissionMessage = {
  client: Address;
  specHash: Hex;
  nonce: bigint;
  /** The client's cap per resource unit, in PLX base units (docs/market.md). */
  maxPricePerUnit: bigint;
  issuedAt: bigint;
};
export type SessionAuthMessage = {
  provider: Address;
  challenge: Hex;
  capabilitiesHash: Hex;
  issuedAt: bigint;
};
export type TaskResultMessage = {
  provider: Address;
  assignmentId: Hex;
  taskId: Hex;
  outputCid: Hex;
  wallMs: bigint;
  cpuMs: bigint;
  peakRssBytes: bigint;
  issuedAt: bigint;
};
/** A provider's commitment to an output before revealing it (protocol v2). */
export type TaskCommitmentMessage = {
  provider: Address;
  assignmentId: Hex;
  taskId: Hex;
  /** sha256(abi.encode(taskId, provider, outputDigest, salt)), see commitReveal.ts. */
  commitment: Hex;
  issuedAt: bigint;
};
export type TaskFailureMessage = {
  provider: Address;
  assignmentId: Hex;
  taskId: Hex;
  reasonHash: Hex;
  issuedAt: bigint;
};

type MessageOf<T extends PlexusPrimaryType> = T extends 'JobSubmission'
  ? JobSubmissionMessage
  : T extends 'SessionAuth'
    ? SessionAuthMessage
    : T extends 'TaskResult'
      ? TaskResultMessage
      : T extends 'TaskCommitment'
        ? TaskCommitmentMessage
        : TaskFailureMessage;

/**
 * The EIP-712 domain of off-chain Plexus messages on one chain.
 * @example plexusDomain(31337) // { name: 'Plexus', version: '1', chainId: 31337 }
 */
export function plexusDomain(chainId: number): TypedDataDomain {
  return { name: 'Plexus', version: '1', chainId };
}

/**
 * Signs a Plexus message with a local account.
 * @example const sig = await signPlexusMessage(account, 31337, 'JobSubmission', msg);
 */
export function signPlexusMessage<T extends PlexusPrimaryType>(
  account: LocalAccount,
  chainId: number,
  primaryType: T,
  message: MessageOf<T>,
): Promise<Hex> {
  // viem's generic typed-data signature is too deep for TS to infer here; the shape is checked above.
  return account.signTypedData({
    domain: plexusDomain(chainId),
    types: plexusTypes,
    primaryType,
    message,
  } as never);
}

/** The EIP-712 digest of a message: a unique id for what was signed (used as the job id). */
export function plexusMessageHash<T extends PlexusPrimaryType>(
  chainId: number,
  primaryType: T,
  message: MessageOf<T>,
): Hex {
  return hashTypedData({ domain: plexusDomain(chainId), types: plexusTypes, primaryType, message } as never);
}

/**
 * Checks that `signature` over `message` was made by `expectedSigner` and that the message is
 * fresh. Throws `PLX_BAD_SIGNATURE` or `PLX_STALE_MESSAGE`.
 *
 * @example await verifyPlexusMessage({ chainId, primaryType: 'TaskResult', message, signature, expectedSigner });
 */
export async function verifyPlexusMessage<T extends PlexusPrimaryType>(args: {
  chainId: number;
  primaryType: T;
  message: MessageOf<T> & { issuedAt: bigint };
  signature: Hex;
  expectedSigner: Address;
  nowSec?: number;
  maxSkewSec?: number;
}): Promise<void> {
  const now = args.nowSec ?? Math.floor(Date.now() / 1000);
  const skew = args.maxSkewSec ?? MAX_MESSAGE_SKEW_SEC;
  const issuedAt = Number(args.message.issuedAt);
  if (!Number.isFinite(issuedAt) || Math.abs(now - issuedAt) > skew) {
    throw new PlexusError(
      'PLX_STALE_MESSAGE',
      `${args.primaryType} was issued at ${issuedAt}, now is ${now}`,
      {
        details: { issuedAt, now, maxSkewSec: skew },
      },
    );
  }
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({
      domain: plexusDomain(args.chainId),
      types: plexusTypes,
      primaryType: args.primaryType,
      message: args.message,
      signature: args.signature,
    } as never);
  } catch (cause) {
    throw new PlexusError('PLX_BAD_SIGNATURE', `${args.primaryType} signature is malformed`, { cause });
  }
  if (signer.toLowerCase() !== args.expectedSigner.toLowerCase()) {
    throw new PlexusError(
      'PLX_BAD_SIGNATURE',
      `${args.primaryType} is not signed by ${args.expectedSigner}`,
      {
        details: { expected: args.expectedSigner },
      },
    );
  }
}
