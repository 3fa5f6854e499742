/**
 * A provider's signature over its capability-proof answer (docs/validators.md "Proven capacity"):
 * EIP-712 `CapabilityAnswer` over the challenge it solved (id, seed, n, k: n and k name the hardware
 * class) and its answer's digest. The agent signs only when the challenge asks (`signed`), after
 * the digest has stopped the coordinator's clock (the signature travels with the uploaded answer),
 * so signing costs the proof's timing nothing. The evidence bundle carries the signed answer of
 * every proof emission is split by; a validator checks the signature, the answer and the timing.
 */
import type { Address, Hex, LocalAccount } from 'viem';
import { MAX_MESSAGE_SKEW_SEC } from './constants.ts';
import {
  type CapabilityAnswerMessage,
  type PlexusDomainRef,
  signPlexusMessage,
  verifyPlexusMessage,
} from './eip712.ts';

/** What a signed capability answer is about (the challenge's fields and the answer's digest). */
export type CapabilityAnswerFields = {
  provider: string;
  challengeId: string;
  seed: string;
  n: number;
  k: number;
  /** sha256 hex of the answer (`answerDigest`), without 0x. */
  digest: string;
  issuedAt: number;
};

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * The EIP-712 message of an answer, or undefined when a field cannot be one (a challenge id or
 * seed that is not 32 bytes of hex: never made by this coordinator, so never signed).
 *
 * @example
 * const msg = capabilityAnswerMessage({ provider, challengeId, seed, n: 256, k: 1, digest, issuedAt });
 */
export function capabilityAnswerMessage(f: CapabilityAnswerFields): CapabilityAnswerMessage | undefined {
  const digest = `0x${f.digest}`;
  if (!HEX32.test(f.challengeId) || !HEX32.test(f.seed) || !HEX32.test(digest)) return undefined;
  if (![f.n, f.k, f.issuedAt].every((x) => Number.isSafeInteger(x) && x >= 0)) return undefined;
  return {
    provider: f.provider as Address,
    challengeId: f.challengeId as Hex,
    seed: f.seed as Hex,
    n: BigInt(f.n),
    k: BigInt(f.k),
    digest: digest as Hex,
    issuedAt: BigInt(f.issuedAt),
  };
}

/**
 * Signs an answer as its provider (the agent).
 *
 * @example
 * const signature = await signCapabilityAnswer(account, chainId, fields);
 */
export async function signCapabilityAnswer(
  account: LocalAccount,
  chainId: PlexusDomainRef,
  f: CapabilityAnswerFields,
): Promise<Hex> {
  const msg = capabilityAnswerMessage(f);
  if (!msg) throw new Error(`capability challenge ${f.challengeId} cannot be signed (not 32-byte ids)`);
  return signPlexusMessage(account, chainId, 'CapabilityAnswer', msg);
}

/**
 * The agent's signed fields of a `capability-answer` for challenge `ch`, signed now.
 *
 * @example
 * sendJson({ type: 'capability-answer', challengeId, productCid, ...(await signedAnswer(account, chainId, ch, digest)) });
 */
export async function signedAnswer(
  account: LocalAccount,
  chainId: PlexusDomainRef,
  ch: { challengeId: string; seed: string; n: number; k: number },
  digest: string,
): Promise<{ issuedAt: number; signature: Hex }> {
  const issuedAt = Math.floor(Date.now() / 1000);
  const fields = { provider: account.address, ...ch, digest, issuedAt };
  return { issuedAt, signature: await signCapabilityAnswer(account, chainId, fields) };
}

/**
 * Why a signed answer does not hold (not by `f.provider`, malformed), or null. `fresh`: also check
 * `issuedAt` against now (the coordinator, on receipt); a validator reads it later and checks
 * the signature alone.
 *
 * @example
 * const wrong = await capabilityAnswerProblem(chainId, fields, signature, { fresh: true });
 */
export async function capabilityAnswerProblem(
  chainId: PlexusDomainRef,
  f: CapabilityAnswerFields,
  signature: string,
  opts: { fresh?: boolean } = {},
): Promise<string | null> {
  const msg = capabilityAnswerMessage(f);
  if (!msg) return 'not a signable capability answer';
  try {
    await verifyPlexusMessage({
      chainId,
      primaryType: 'CapabilityAnswer',
      message: msg,
      signature: signature as Hex,
      expectedSigner: f.provider as Address,
      ...(opts.fresh ? {} : { nowSec: f.issuedAt, maxSkewSec: MAX_MESSAGE_SKEW_SEC }),
    });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
