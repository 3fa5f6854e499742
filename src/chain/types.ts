import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from 'viem';

/** Where the four Plexus contracts live on one chain. */
export type PlexusAddresses = {
  token: Address;
  registry: Address;
  escrow: Address;
  settlement: Address;
};

/** A wallet client with an account, as every write action needs one to sign. */
export type PlexusWalletClient = WalletClient<Transport, Chain | undefined, Account>;

/** What read actions need: a public client and the contract addresses. */
export type PlexusReader = {
  publicClient: PublicClient;
  addresses: PlexusAddresses;
};

/** What write actions need: a reader plus the wallet that sends the transaction. */
export type PlexusWriter = PlexusReader & {
  walletClient: PlexusWalletClient;
};

/** One client charge in an epoch. */
export type EpochCharge = { client: Address; amount: bigint };

/** One provider slash in an epoch (up to `amount`: the registry takes what the provider still holds). */
export type EpochSlash = { provider: Address; amount: bigint };

/** What validators sign and `finalizeEpoch` submits for one epoch. */
export type EpochPayload = {
  epoch: bigint;
  /** Root of the rewards tree of cumulative lifetime earnings (see buildRewardsTree). */
  rewardsRoot: Hex;
  /** Sum of every cumulative amount in the tree. */
  totalEarned: bigint;
  charges: readonly EpochCharge[];
  slashes: readonly EpochSlash[];
  emission: bigint;
  /** sha256 of the epoch's canonical evidence bundle (docs/validators.md); validators sign it. */
  evidenceHash: Hex;
};

/** A validator's signature over an EpochPayload. */
export type EpochSignature = { signer: Address; signature: Hex };

/** What every write action returns. */
export type TxResult = { hash: Hex; gasUsed: bigint; blockNumber: bigint };
