/**
 * Defaults of the on-chain layer. The contracts take these as constructor arguments (except the
 * token's cap and emission limit, which are constants in PlexusToken.sol); docs/contracts.md
 * explains each number.
 */

/** 1 PLX in base units (18 decimals). */
export const PLX = 10n ** 18n;

/** Hard cap on the PLX supply (PlexusToken.CAP). */
export const TOKEN_CAP = 1_000_000_000n * PLX;

/** PLX minted to the treasury at deployment (PlexusToken.GENESIS_SUPPLY). */
export const GENESIS_SUPPLY = 400_000_000n * PLX;

/** Most PLX mintable for one epoch (PlexusToken.MAX_EMISSION_PER_EPOCH). */
export const MAX_EMISSION_PER_EPOCH = 50_000n * PLX;

/** Default least stake to register a provider: 1,000 PLX. */
export const DEFAULT_MIN_STAKE = 1_000n * PLX;

/** Default unbonding period: 7 days, in seconds. */
export const DEFAULT_UNBONDING_PERIOD = 7n * 24n * 3600n;

/** Default epoch length: 1 hour, in seconds. */
export const DEFAULT_EPOCH_DURATION = 3600n;

/** Default escrow withdrawal delay: 2 epochs, in seconds (the contract requires at least one epoch). */
export const DEFAULT_WITHDRAWAL_DELAY = 2n * DEFAULT_EPOCH_DURATION;

/** Default signature threshold when the caller gives none: a strict majority of the validators. */
export function defaultThreshold(validators: number): number {
  return Math.floor(validators / 2) + 1;
}

/** EIP-712 domain name and version of EpochSettlement. */
export const SETTLEMENT_DOMAIN = { name: 'Plexus EpochSettlement', version: '1' } as const;

/** EIP-712 types of the payload validators sign (struct `FinalizeEpoch` in EpochSettlement.sol). */
export const FINALIZE_EPOCH_TYPES = {
  FinalizeEpoch: [
    { name: 'epoch', type: 'uint256' },
    { name: 'rewardsRoot', type: 'bytes32' },
    { name: 'totalEarned', type: 'uint256' },
    { name: 'chargeClients', type: 'address[]' },
    { name: 'chargeAmounts', type: 'uint256[]' },
    { name: 'slashProviders', type: 'address[]' },
    { name: 'slashAmounts', type: 'uint256[]' },
    { name: 'emission', type: 'uint256' },
    { name: 'evidenceHash', type: 'bytes32' },
  ],
} as const;

/** Leaf encoding of the rewards tree (OpenZeppelin StandardMerkleTree). */
export const REWARDS_LEAF_ENCODING = ['address', 'uint256'] as const;
