/**
 * What a provider's claimed capabilities hash to: the digest it registers on chain, and the hash its
 * session signature commits to.
 */
import type { Hex } from 'viem';
import { hashCanonical } from './canonicalJson.ts';
import type { HardwareClaim, ProviderAuth } from './schemas.ts';

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

/**
 * What a provider's session signature (EIP-712 SessionAuth) commits to besides the challenge.
 *
 * @example
 * const hash = capabilitiesHash({ hardware, slots: 1, region: 'eu-west', agentVersion: '0.1.0' });
 */
export function capabilitiesHash(
  auth: Pick<ProviderAuth, 'hardware' | 'slots' | 'region' | 'agentVersion'> & {
    floorPrices?: Record<string, string> | undefined;
    storage?: ProviderAuth['storage'] | undefined;
  },
): Hex {
  return hashCanonical({
    hardware: auth.hardware,
    slots: auth.slots,
    region: auth.region,
    agentVersion: auth.agentVersion,
    // Signed too when advertised; agents without floors hash exactly as before.
    ...(auth.floorPrices ? { floorPrices: auth.floorPrices } : {}),
    // The storage offer (issue 19) likewise, only when made.
    ...(auth.storage ? { storage: auth.storage } : {}),
  });
}
