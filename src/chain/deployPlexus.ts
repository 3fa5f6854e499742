import { type Abi, type Address, getAddress, type Hex, type PublicClient } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';
import { plexusAbis } from './abis.ts';
import {
  DEFAULT_EPOCH_DURATION,
  DEFAULT_MIN_STAKE,
  DEFAULT_UNBONDING_PERIOD,
  DEFAULT_WITHDRAWAL_DELAY,
  defaultThreshold,
} from './constants.ts';
import { clientEscrowBytecode } from './generated/ClientEscrow.ts';
import { epochSettlementBytecode } from './generated/EpochSettlement.ts';
import { plexusTokenBytecode } from './generated/PlexusToken.ts';
import { providerRegistryBytecode } from './generated/ProviderRegistry.ts';
import type { PlexusAddresses, PlexusWalletClient } from './types.ts';
import { writeContractAndWait } from './writeContractAndWait.ts';

/** Parameters of deployPlexus. Every number has a default (see constants.ts and docs/contracts.md). */
export type DeployPlexusParameters = {
  publicClient: PublicClient;
  /** Deploys and wires the contracts; binds them to each other, then keeps no power over token, registry or escrow. */
  walletClient: PlexusWalletClient;
  /** Receives the genesis supply; default: the deployer. */
  treasury?: Address;
  /** Initial validator set (at least one). */
  validators: readonly Address[];
  /** Signatures needed to finalize an epoch; default: a strict majority of `validators`. */
  threshold?: number;
  /** Owner of EpochSettlement (may change validators and threshold); default: the deployer. */
  owner?: Address;
  minStake?: bigint;
  unbondingPeriod?: bigint;
  epochDuration?: bigint;
  /** Must be at least `epochDuration`. */
  withdrawalDelay?: bigint;
};

/** Addresses, parameters and deployment block of a Plexus deployment. */
export type PlexusDeployment = PlexusAddresses & {
  chainId: number;
  deployer: Address;
  treasury: Address;
  validators: readonly Address[];
  threshold: number;
  minStake: bigint;
  unbondingPeriod: bigint;
  epochDuration: bigint;
  withdrawalDelay: bigint;
  /** Block of the last deployment transaction: indexers start here. */
  blockNumber: bigint;
};

async function deploy(
  publicClient: PublicClient,
  walletClient: PlexusWalletClient,
  abi: Abi | readonly unknown[],
  bytecode: Hex,
  args: readonly unknown[],
): Promise<{ address: Address; blockNumber: bigint }> {
  const hash = await walletClient.deployContract({
    abi: abi as Abi,
    bytecode,
    args,
    account: walletClient.account,
    chain: walletClient.chain,
  } as never);
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new PlexusError('PLX_INTERNAL', `deployment transaction ${hash} failed`);
  }
  return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber };
}

/**
 * Deploys PlexusToken, ProviderRegistry, ClientEscrow and EpochSettlement, then binds the
 * settlement contract as the token's only minter and as the registry's and escrow's settlement
 * (each bind renounces the deployer's ownership of that contract).
 *
 * @example
 * const deployment = await deployPlexus({ publicClient, walletClient, validators: [v1, v2, v3], threshold: 2 });
 * const ctx = { publicClient, walletClient, addresses: deployment };
 */
export async function deployPlexus(params: DeployPlexusParameters): Promise<PlexusDeployment> {
  const { publicClient, walletClient } = params;
  const deployer = walletClient.account.address;
  const treasury = params.treasury ?? deployer;
  const owner = params.owner ?? deployer;
  const threshold = params.threshold ?? defaultThreshold(params.validators.length);
  const minStake = params.minStake ?? DEFAULT_MIN_STAKE;
  const unbondingPeriod = params.unbondingPeriod ?? DEFAULT_UNBONDING_PERIOD;
  const epochDuration = params.epochDuration ?? DEFAULT_EPOCH_DURATION;
  const withdrawalDelay = params.withdrawalDelay ?? DEFAULT_WITHDRAWAL_DELAY;

  const token = await deploy(publicClient, walletClient, plexusAbis.token, plexusTokenBytecode, [
    treasury,
    deployer,
  ]);
  const registry = await deploy(publicClient, walletClient, plexusAbis.registry, providerRegistryBytecode, [
    token.address,
    minStake,
    unbondingPeriod,
    deployer,
  ]);
  const escrow = await deploy(publicClient, walletClient, plexusAbis.escrow, clientEscrowBytecode, [
    token.address,
    withdrawalDelay,
    deployer,
  ]);
  const settlement = await deploy(
    publicClient,
    walletClient,
    plexusAbis.settlement,
    epochSettlementBytecode,
    [
      token.address,
      registry.address,
      escrow.address,
      epochDuration,
      params.validators,
      BigInt(threshold),
      owner,
    ],
  );
  const addresses: PlexusAddresses = {
    token: token.address,
    registry: registry.address,
    escrow: escrow.address,
    settlement: settlement.address,
  };
  const ctx = { publicClient, walletClient, addresses };
  await writeContractAndWait(ctx, {
    address: addresses.token,
    abi: plexusAbis.token,
    functionName: 'setMinter',
    args: [addresses.settlement],
  });
  await writeContractAndWait(ctx, {
    address: addresses.registry,
    abi: plexusAbis.registry,
    functionName: 'setSettlement',
    args: [addresses.settlement],
  });
  const last = await writeContractAndWait(ctx, {
    address: addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'setSettlement',
    args: [addresses.settlement],
  });
  return {
    ...addresses,
    chainId: await publicClient.getChainId(),
    deployer,
    treasury,
    validators: [...params.validators],
    threshold,
    minStake,
    unbondingPeriod,
    epochDuration,
    withdrawalDelay,
    blockNumber: last.blockNumber,
  };
}
