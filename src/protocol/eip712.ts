import { createRequire } from 'node:module';
import {
  type Address,
  type Hex,
  hashTypedData,
  hexToBytes,
  isHex,
  type LocalAccount,
  recoverAddress,
  type TypedDataDomain,
} from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { PlexusError } from '../errors/PlexusError.ts';
import { MAX_MESSAGE_SKEW_SEC } from './constants.ts';

/** The part of the `secp256k1` package (libsecp256k1 bindings) used here. */
type NativeSecp256k1 = {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
};

/**
 * libsecp256k1 through the `secp256k1` package's prebuilt binding (linux-x64, darwin-arm64,
 * win32-x64), or undefined where it has none: recovering a signer there takes about 50 µs against
 * 3–7 ms in viem's JavaScript (noble), which the coordinator pays for every task result. Only the
 * binding is loaded, never the package's pure-JS fallback (viem is the fallback here).
 */
const nativeSecp256k1: NativeSecp256k1 | undefined = (() => {
  if (process.env.PLEXUS_NATIVE_SECP256K1 === '0') return undefined;
  try {
    return createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp256k1;
  } catch {
    return undefined;
  }
})();

/** True when signer recovery runs in native code (see {@link recoverSigner}). */
export function hasNativeSecp256k1(): boolean {
  return nativeSecp256k1 !== undefined;
}

/**
 * The address that made a 65-byte `r‖s‖v` signature over a 32-byte digest (what `ecrecover`
 * gives): in libsecp256k1 when it is available and `native` is not false, else with viem. Both
 * accept the same signatures (`v` 0/1/27/28, any `s` below the curve order); anything the native
 * path refuses is handed to viem, so the outcome of an odd signature is always viem's. Throws on a
 * signature nothing can be recovered from.
 *
 * @example const signer = await recoverSigner(plexusMessageHash(chainId, 'TaskResult', msg), signature);
 */
export async function recoverSigner(digest: Hex, signature: Hex, native = true): Promise<Address> {
  if (native && nativeSecp256k1 !== undefined && isHex(signature) && signature.length === 132) {
    const bytes = hexToBytes(signature);
    const v = bytes[64]!;
    const recid = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : -1;
    if (recid >= 0) {
      try {
        const publicKey = nativeSecp256k1.ecdsaRecover(
          bytes.subarray(0, 64),
          recid,
          hexToBytes(digest),
          false,
        );
        return publicKeyToAddress(`0x${Buffer.from(publicKey).toString('hex')}`);
      } catch {
        // Not recoverable natively (r or s out of range, …): viem decides below.
      }
    }
  }
  return recoverAddress({ hash: digest, signature });
}

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
  await verifySignedDigest({
    ...args,
    issuedAt: args.message.issuedAt,
    // What viem's recoverTypedDataAddress hashes; the recovery itself runs in native code.
    digest: () => plexusMessageHash(args.chainId, args.primaryType, args.message),
  });
}

/**
 * The one signature check behind every signed off-chain message (Plexus and sensor types): the
 * message is fresh (`issuedAt` within the allowed skew) and `signature` over its EIP-712 `digest`
 * recovers to `expectedSigner`. Throws `PLX_STALE_MESSAGE` or `PLX_BAD_SIGNATURE`.
 *
 * @example await verifySignedDigest({ primaryType: 'ReadingBatch', issuedAt, digest: () => hash, signature, expectedSigner });
 */
export async function verifySignedDigest(args: {
  primaryType: string;
  issuedAt: bigint;
  /** The EIP-712 digest; computed only once the message is known to be fresh. */
  digest: () => Hex;
  signature: Hex;
  expectedSigner: Address;
  nowSec?: number;
  maxSkewSec?: number;
}): Promise<void> {
  const now = args.nowSec ?? Math.floor(Date.now() / 1000);
  const skew = args.maxSkewSec ?? MAX_MESSAGE_SKEW_SEC;
  const issuedAt = Number(args.issuedAt);
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
    signer = await recoverSigner(args.digest(), args.signature);
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
