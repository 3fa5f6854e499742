import type { Hex } from 'viem';
import { hashCanonical } from '../../protocol/canonicalJson.ts';
import type { HardwareClaim } from '../../protocol/schemas.ts';

/**
 * The `capabilitiesDigest` a provider registers on chain: keccak256 of the canonical JSON (RFC 8785)
 * of its hardware claim. Anyone holding the claim (the coordinator gets it at session start) can
 * recompute it; it changes only when the machine does.
 *
 * @example
 * await registerProvider(ctx, { stake, region, uri, capabilitiesDigest: capabilitiesDigest(claim) });
 */
export function capabilitiesDigest(claim: HardwareClaim): Hex {
  return hashCanonical(claim);
}
