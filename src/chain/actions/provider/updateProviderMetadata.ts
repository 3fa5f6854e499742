import type { Hex } from 'viem';
import { plexusAbis } from '../../abis.ts';
import { encodeRegion } from '../../region.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Replaces the writer's provider metadata.
 *
 * @example
 * await updateProviderMetadata(ctx, { capabilitiesDigest, region: 'us-east', uri: 'https://…' });
 */
export async function updateProviderMetadata(
  ctx: PlexusWriter,
  p: { capabilitiesDigest: Hex; region: string; uri: string },
): Promise<TxResult> {
  return writeContractAndWait(ctx, {
    address: ctx.addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'updateMetadata',
    args: [p.capabilitiesDigest, encodeRegion(p.region), p.uri],
  });
}
