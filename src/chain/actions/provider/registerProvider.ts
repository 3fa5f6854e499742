import type { Hex } from 'viem';
import { plexusAbis } from '../../abis.ts';
import { encodeRegion } from '../../region.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';
import { ensureAllowance } from '../ensureAllowance.ts';

/** Parameters of registerProvider. */
export type RegisterProviderParameters = {
  /** PLX to bond, at least the registry's `minStake`. */
  stake: bigint;
  /** Digest of the provider's capability manifest. */
  capabilitiesDigest: Hex;
  /** Region code such as `eu-west` (1-32 printable ASCII characters). */
  region: string;
  /** Where the provider's public metadata lives (1-256 bytes). */
  uri: string;
};

/**
 * Registers the writer's account as a provider, approving the registry for the stake first if needed.
 *
 * @example
 * await registerProvider(ctx, { stake: 1_000n * PLX, capabilitiesDigest, region: 'eu-west', uri: 'https://…' });
 */
export async function registerProvider(ctx: PlexusWriter, p: RegisterProviderParameters): Promise<TxResult> {
  await ensureAllowance(ctx, ctx.addresses.registry, p.stake);
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'register',
    args: [p.stake, p.capabilitiesDigest, encodeRegion(p.region), p.uri],
  });
}
