import type { Address, Hex } from 'viem';
import { plexusAbis } from '../../abis.ts';
import { decodeRegion } from '../../region.ts';
import type { PlexusReader } from '../../types.ts';

/** A provider's on-chain record. */
export type ProviderRecord = {
  registered: boolean;
  /** May take new work: registered, stake at least minStake, nothing unbonding. */
  active: boolean;
  stake: bigint;
  unbonding: bigint;
  /** Unix seconds when `unbonding` can be withdrawn; 0n when nothing is unbonding. */
  unbondingReadyAt: bigint;
  registeredAt: bigint;
  capabilitiesDigest: Hex;
  region: string;
  uri: string;
};

/**
 * Reads `provider`'s record from the registry.
 *
 * @example
 * const { active, stake } = await getProvider(ctx, providerAddress);
 */
export async function getProvider(ctx: PlexusReader, provider: Address): Promise<ProviderRecord> {
  const common = { address: ctx.addresses.registry, abi: plexusAbis.registry, args: [provider] } as const;
  const [p, active] = await Promise.all([
    ctx.publicClient.readContract({ ...common, functionName: 'getProvider' }),
    ctx.publicClient.readContract({ ...common, functionName: 'isActive' }),
  ]);
  return {
    registered: p.registeredAt !== 0n,
    active,
    stake: p.stake,
    unbonding: p.unbonding,
    unbondingReadyAt: BigInt(p.unbondingReadyAt),
    registeredAt: BigInt(p.registeredAt),
    capabilitiesDigest: p.capabilitiesDigest,
    region: decodeRegion(p.region),
    uri: p.uri,
  };
}
