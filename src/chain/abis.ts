import { clientEscrowAbi } from './generated/ClientEscrow.ts';
import { epochSettlementAbi } from './generated/EpochSettlement.ts';
import { plexusTokenAbi } from './generated/PlexusToken.ts';
import { providerRegistryAbi } from './generated/ProviderRegistry.ts';

/**
 * Every custom error of the four contracts. Errors bubble across contracts (a charge above a
 * client's balance makes `EpochSettlement.finalizeEpoch` revert with ClientEscrow's
 * `InsufficientEscrowBalance`), so each call decodes reverts against all of them.
 *
 * @example
 * decodeErrorResult({ abi: plexusErrorsAbi, data });
 */
export const plexusErrorsAbi = [
  ...plexusTokenAbi.filter((x) => x.type === 'error'),
  ...providerRegistryAbi.filter((x) => x.type === 'error'),
  ...clientEscrowAbi.filter((x) => x.type === 'error'),
  ...epochSettlementAbi.filter((x) => x.type === 'error'),
];

/**
 * The contract ABIs with every Plexus error added, for calls whose reverts should decode fully.
 *
 * @example
 * await publicClient.readContract({ address, abi: plexusAbis.settlement, functionName: 'rewardsRoot' });
 */
export const plexusAbis = {
  token: [...plexusTokenAbi, ...plexusErrorsAbi],
  registry: [...providerRegistryAbi, ...plexusErrorsAbi],
  escrow: [...clientEscrowAbi, ...plexusErrorsAbi],
  settlement: [...epochSettlementAbi, ...plexusErrorsAbi],
} as const;
