import { randomBytes } from 'node:crypto';
import type { LocalAccount } from 'viem';
import { hashCanonical } from '../protocol/canonicalJson.ts';
import { DEFAULT_MAX_PRICE_PER_UNIT } from '../protocol/constants.ts';
import { type PlexusDomainRef, signPlexusMessage } from '../protocol/eip712.ts';
import type { JobSpecInput, JobSubmission } from '../protocol/schemas.ts';

/**
 * Signs a job spec as an EIP-712 JobSubmission (over the keccak256 of its canonical JSON), ready
 * for `POST /v1/jobs`. The nonce is random unless given; a coordinator refuses a reused one. The
 * client's cap per resource unit is signed too (default DEFAULT_MAX_PRICE_PER_UNIT, 0.01 PLX).
 * `domain` is the coordinator's chain id and `verifyingContract` from `GET /v1/health`: a
 * coordinator refuses a job signed for another coordinator network (a bare chain id included).
 *
 * @example
 * const { chainId, verifyingContract } = await plexus.health();
 * const body = await signJobSubmission(account, { chainId, verifyingContract }, { kind: 'onnx.infer', model, inputs, deadline });
 */
export async function signJobSubmission(
  account: LocalAccount,
  domain: PlexusDomainRef,
  spec: JobSpecInput,
  opts: { nonce?: bigint; issuedAt?: number; maxPricePerUnit?: bigint } = {},
): Promise<JobSubmission> {
  const nonce = opts.nonce ?? BigInt(`0x${randomBytes(16).toString('hex')}`);
  const issuedAt = opts.issuedAt ?? Math.floor(Date.now() / 1000);
  const maxPricePerUnit = opts.maxPricePerUnit ?? DEFAULT_MAX_PRICE_PER_UNIT;
  const signature = await signPlexusMessage(account, domain, 'JobSubmission', {
    client: account.address,
    specHash: hashCanonical(spec),
    nonce,
    maxPricePerUnit,
    issuedAt: BigInt(issuedAt),
  });
  return {
    spec,
    client: account.address,
    nonce: nonce.toString(),
    maxPricePerUnit: maxPricePerUnit.toString(),
    issuedAt,
    signature,
  };
}
