import { createRequire } from 'node:module';
import {
  type Address,
  checksumAddress,
  type Hex,
  hashTypedData,
  hexToBytes,
  isAddress,
  isHex,
  type LocalAccount,
  recoverAddress,
  type TypedDataDomain,
} from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { PlexusError } from '../errors/PlexusError.ts';
import { MAX_MESSAGE_SKEW_SEC } from './constants.ts';
import { keccak256Bytes as keccak_256 } from './keccak.ts';

/** The part of the `secp256k1` package (libsecp256k1 bindings) used here. */
type NativeSecp256k1 = {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  /** RFC 6979 nonce, low-s signature (libsecp256k1's defaults). */
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
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
        // viem's publicKeyToAddress (the last 20 bytes of the key's keccak, checksummed).
        const hash = keccak_256(publicKey.subarray(1));
        return checksumAddress(`0x${Buffer.from(hash.buffer, hash.byteOffset + 12, 20).toString('hex')}`);
      } catch {
        // Not recoverable natively (r or s out of range, …): viem decides below.
      }
    }
  }
  return recoverAddress({ hash: digest, signature });
}

/**
 * viem's `privateKeyToAccount`, except that `sign` (of a raw 32-byte digest: what
 * {@link signPlexusMessage} uses) runs in libsecp256k1 where its binding loads: about 50 µs against
 * about 1 ms (and much garbage) in noble, and a provider signs twice per task. The signatures are
 * the same bytes viem makes (RFC 6979 nonce without extra entropy, low s, `v` = 27 + recovery id;
 * eip712.test.ts checks it); typed data, messages and transactions stay viem's own.
 *
 * @example const account = privateKeyToNativeAccount(await decryptKeystore(json, password));
 */
export function privateKeyToNativeAccount(privateKey: Hex): PrivateKeyAccount {
  const account = privateKeyToAccount(privateKey);
  const native = nativeSecp256k1;
  if (native === undefined) return account;
  const seckey = hexToBytes(privateKey);
  return {
    ...account,
    async sign({ hash }) {
      const { signature, recid } = native.ecdsaSign(hexToBytes(hash), seckey);
      return `0x${Buffer.from(signature).toString('hex')}${recid === 0 ? '1b' : '1c'}`;
    },
  };
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
  /** A signed blob upload (`PUT /v1/blobs/:cid`): who stores which bytes (its quota pays). */
  BlobUpload: [
    { name: 'account', type: 'address' },
    { name: 'cid', type: 'bytes32' },
    { name: 'size', type: 'uint64' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /** A signed blob download (`GET /v1/blobs/:cid`): who reads which blob (docs/security.md). */
  BlobRead: [
    { name: 'account', type: 'address' },
    { name: 'cid', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /** A signed read of a job's private views (`GET /v1/jobs/:id` tasks, results, events): its client. */
  JobRead: [
    { name: 'account', type: 'address' },
    { name: 'jobId', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
  ],
  /**
   * A provider's capability-proof answer (protocol/signedCapabilityAnswer.ts): the challenge it
   * solved (id, seed, size n and chain length k, which name the hardware class) and the sha256 of
   * its answer, so a validator can re-check the proof emission is split by (evidence version 12).
   */
  CapabilityAnswer: [
    { name: 'provider', type: 'address' },
    { name: 'challengeId', type: 'bytes32' },
    { name: 'seed', type: 'bytes32' },
    { name: 'n', type: 'uint64' },
    { name: 'k', type: 'uint64' },
    { name: 'digest', type: 'bytes32' },
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

/** A signed upload of blob `cid` (the sha256 as bytes32) of `size` bytes. */
export type BlobUploadMessage = { account: Address; cid: Hex; size: bigint; issuedAt: bigint };
/** A signed download of blob `cid` (the sha256 as bytes32). */
export type BlobReadMessage = { account: Address; cid: Hex; issuedAt: bigint };
/** A signed read of job `jobId`'s private views by `account` (zero hash: the account's job list). */
export type JobReadMessage = { account: Address; jobId: Hex; issuedAt: bigint };
/** A provider's signed capability answer (`digest`: the answer's sha256 as bytes32). */
export type CapabilityAnswerMessage = {
  provider: Address;
  challengeId: Hex;
  seed: Hex;
  n: bigint;
  k: bigint;
  digest: Hex;
  issuedAt: bigint;
};

type MessageOf<T extends PlexusPrimaryType> = T extends 'CapabilityAnswer'
  ? CapabilityAnswerMessage
  : T extends 'BlobUpload'
    ? BlobUploadMessage
    : T extends 'BlobRead'
      ? BlobReadMessage
      : T extends 'JobRead'
        ? JobReadMessage
        : T extends 'JobSubmission'
          ? JobSubmissionMessage
          : T extends 'SessionAuth'
            ? SessionAuthMessage
            : T extends 'TaskResult'
              ? TaskResultMessage
              : T extends 'TaskCommitment'
                ? TaskCommitmentMessage
                : TaskFailureMessage;

/**
 * Which EIP-712 domain a message is signed in: a bare chain id (provider and session messages,
 * bound to the chain), or a chain id with the coordinator network's `verifyingContract` (job
 * submissions: the escrow contract's address, or in development mode the coordinator's network id
 * from `GET /v1/health`), so a job signed for one coordinator network is refused by every other one
 * on the same chain.
 *
 * @example const domain: PlexusDomainRef = { chainId: 31337, verifyingContract: health.verifyingContract };
 */
export type PlexusDomainRef = number | { chainId: number; verifyingContract: Address };

/** The chain id of a domain reference. @example chainIdOf({ chainId: 1, verifyingContract }) // 1 */
export function chainIdOf(domain: PlexusDomainRef): number {
  return typeof domain === 'number' ? domain : domain.chainId;
}

/**
 * The EIP-712 domain of off-chain Plexus messages on one chain (and, for job submissions, one
 * coordinator network: see {@link PlexusDomainRef}).
 * @example plexusDomain(31337) // { name: 'Plexus', version: '1', chainId: 31337 }
 */
export function plexusDomain(domain: PlexusDomainRef): TypedDataDomain {
  return typeof domain === 'number'
    ? { name: 'Plexus', version: '1', chainId: domain }
    : { name: 'Plexus', version: '1', chainId: domain.chainId, verifyingContract: domain.verifyingContract };
}

/**
 * Signs a Plexus message with a local account: its EIP-712 digest ({@link plexusMessageHashFast})
 * signed with the account's `sign`, which is what viem's `signTypedData` does (and what it falls
 * back to for an account without `sign`).
 * @example const sig = await signPlexusMessage(account, 31337, 'JobSubmission', msg);
 */
export function signPlexusMessage<T extends PlexusPrimaryType>(
  account: LocalAccount,
  chainId: PlexusDomainRef,
  primaryType: T,
  message: MessageOf<T>,
): Promise<Hex> {
  if (account.sign !== undefined)
    return account.sign({ hash: plexusMessageHashFast(chainId, primaryType, message) });
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
  chainId: PlexusDomainRef,
  primaryType: T,
  message: MessageOf<T>,
): Hex {
  return hashTypedData({ domain: plexusDomain(chainId), types: plexusTypes, primaryType, message } as never);
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const DOMAIN_TYPE_HASH = keccak_256(utf8('EIP712Domain(string name,string version,uint256 chainId)'));
const CONTRACT_DOMAIN_TYPE_HASH = keccak_256(
  utf8('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
);
const DOMAIN_NAME_HASH = keccak_256(utf8('Plexus'));
const DOMAIN_VERSION_HASH = keccak_256(utf8('1'));
const TYPE_HASHES = Object.fromEntries(
  Object.entries(plexusTypes).map(([name, fields]) => [
    name,
    keccak_256(utf8(`${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`)),
  ]),
) as Record<PlexusPrimaryType, Uint8Array>;
const domainSeparators = new Map<string, Uint8Array>();
const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/** Writes `value` as a big-endian 32-byte word into a zeroed `out` at `at`. */
function uintWord(value: bigint, out: Uint8Array, at: number): void {
  let v = value;
  for (let i = at + 31; v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * The struct hash of a message whose every field is in canonical form (a valid address, 32 bytes
 * of hex, a bigint in its range), or undefined when one is not, so that viem decides.
 */
function fastStructHash(
  primaryType: PlexusPrimaryType,
  message: Record<string, unknown>,
): Uint8Array | undefined {
  const fields = plexusTypes[primaryType];
  const buf = new Uint8Array(32 * (fields.length + 1));
  buf.set(TYPE_HASHES[primaryType], 0);
  for (let i = 0; i < fields.length; i++) {
    const { name, type } = fields[i]!;
    const value = message[name];
    const at = 32 * (i + 1);
    if (type === 'address') {
      if (typeof value !== 'string' || !ADDRESS_RE.test(value) || !isAddress(value)) return undefined;
      buf.set(hexToBytes(value as Hex), at + 12);
    } else if (type === 'bytes32') {
      if (typeof value !== 'string' || !BYTES32_RE.test(value)) return undefined;
      buf.set(hexToBytes(value as Hex), at);
    } else if (type === 'uint64' || type === 'uint256') {
      const bits = type === 'uint64' ? 64n : 256n;
      if (typeof value !== 'bigint' || value < 0n || value >= 1n << bits) return undefined;
      uintWord(value, buf, at);
    } else {
      return undefined; // a type this encoder does not know: viem's
    }
  }
  return keccak_256(buf);
}

/** The domain separator; the caller has checked that a verifying contract is a valid address. */
function domainSeparator(domain: PlexusDomainRef): Uint8Array {
  const key = typeof domain === 'number' ? String(domain) : `${domain.chainId}:${domain.verifyingContract}`;
  let sep = domainSeparators.get(key);
  if (sep === undefined) {
    const contract = typeof domain === 'number' ? undefined : domain.verifyingContract;
    const buf = new Uint8Array(contract === undefined ? 128 : 160);
    buf.set(contract === undefined ? DOMAIN_TYPE_HASH : CONTRACT_DOMAIN_TYPE_HASH, 0);
    buf.set(DOMAIN_NAME_HASH, 32);
    buf.set(DOMAIN_VERSION_HASH, 64);
    uintWord(BigInt(chainIdOf(domain)), buf, 96);
    if (contract !== undefined) buf.set(hexToBytes(contract), 128 + 12);
    sep = keccak_256(buf);
    domainSeparators.set(key, sep);
  }
  return sep;
}

/**
 * {@link plexusMessageHash}, computed directly for the fixed Plexus types (domain separator and
 * type hashes computed once): a few microseconds against about half a millisecond through viem's
 * generic encoder. Messages with a field not in canonical form (a mis-checksummed address, a
 * number where a bigint goes, …) and odd chain ids go to viem, so the answer, or the error, is
 * always viem's (eip712.test.ts compares the two).
 *
 * @example const digest = plexusMessageHashFast(31337, 'TaskResult', msg);
 */
export function plexusMessageHashFast<T extends PlexusPrimaryType>(
  chainId: PlexusDomainRef,
  primaryType: T,
  message: MessageOf<T>,
): Hex {
  const id = chainIdOf(chainId);
  const contractOk =
    typeof chainId === 'number' ||
    (ADDRESS_RE.test(chainId.verifyingContract) && isAddress(chainId.verifyingContract));
  const struct =
    Number.isSafeInteger(id) && id >= 0 && contractOk && Object.hasOwn(plexusTypes, primaryType)
      ? fastStructHash(primaryType, message as Record<string, unknown>)
      : undefined;
  if (struct === undefined) return plexusMessageHash(chainId, primaryType, message);
  const buf = new Uint8Array(66);
  buf[0] = 0x19;
  buf[1] = 0x01;
  buf.set(domainSeparator(chainId), 2);
  buf.set(struct, 34);
  return `0x${Buffer.from(keccak_256(buf)).toString('hex')}`;
}

/**
 * Checks that `signature` over `message` was made by `expectedSigner` and that the message is
 * fresh. Throws `PLX_BAD_SIGNATURE` or `PLX_STALE_MESSAGE`.
 *
 * @example await verifyPlexusMessage({ chainId, primaryType: 'TaskResult', message, signature, expectedSigner });
 */
export async function verifyPlexusMessage<T extends PlexusPrimaryType>(args: {
  chainId: PlexusDomainRef;
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
    // What viem's recoverTypedDataAddress hashes (computed directly; anything unusual goes to
    // viem); the recovery itself runs in native code.
    digest: () => plexusMessageHashFast(args.chainId, args.primaryType, args.message),
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

/** The request header that carries a signed blob upload or read (`account:issuedAt:signature`). */
export const BLOB_AUTH_HEADER = 'x-plexus-auth';

/**
 * The `x-plexus-auth` header value of a blob request: `account:issuedAt:signature`, where the
 * signature is EIP-712 `BlobUpload` (cid, size) for an upload or `BlobRead` (cid) for a download,
 * in the chain-only domain (a provider knows the chain id from `hello`). Fresh for 300 s.
 *
 * @example const header = await signBlobAuth(account, 31337, { cid, size: bytes.byteLength });
 */
export async function signBlobAuth(
  account: LocalAccount,
  chainId: number,
  what: { cid: string; size?: number },
  issuedAt = Math.floor(Date.now() / 1000),
): Promise<string> {
  const cid = `0x${what.cid}` as Hex;
  const signature =
    what.size === undefined
      ? await signPlexusMessage(account, chainId, 'BlobRead', {
          account: account.address,
          cid,
          issuedAt: BigInt(issuedAt),
        })
      : await signPlexusMessage(account, chainId, 'BlobUpload', {
          account: account.address,
          cid,
          size: BigInt(what.size),
          issuedAt: BigInt(issuedAt),
        });
  return `${account.address}:${issuedAt}:${signature}`;
}

/**
 * Splits an `x-plexus-auth` value; undefined when it is not `0x<40 hex>:<digits>:0x<hex>`.
 * @example parseBlobAuth('0xab…:1795315000:0x12…') // { account, issuedAt, signature }
 */
export function parseBlobAuth(
  value: string | undefined,
): { account: Address; issuedAt: bigint; signature: Hex } | undefined {
  const m = /^(0x[0-9a-fA-F]{40}):(\d{1,15}):(0x[0-9a-fA-F]{1,300})$/.exec(value ?? '');
  if (!m) return undefined;
  return { account: m[1] as Address, issuedAt: BigInt(m[2]!), signature: m[3] as Hex };
}
