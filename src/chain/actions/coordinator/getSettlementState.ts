import type { Address, Hex } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusReader } from '../../types.ts';

/** The settlement contract's state, as the coordinator needs it to build the next epoch. */
export type SettlementState = {
  lastFinalizedEpoch: bigint;
  /** The next epoch to finalize (lastFinalizedEpoch + 1). */
  nextEpoch: bigint;
  /** Unix seconds when the next epoch ends; it cannot be finalized before. */
  nextEpochEndsAt: bigint;
  rewardsRoot: Hex;
  totalEarned: bigint;
  totalClaimed: bigint;
  epochDuration: bigint;
  genesisTime: bigint;
  validators: readonly Address[];
  threshold: bigint;
};

/**
 * Reads the settlement contract's state, every field at one block: read separately, an epoch
 * finalized between two reads would pair one epoch's number with the next one's root and total
 * (seen as a false `ledger verify` mismatch against a running coordinator).
 *
 * @example
 * const { nextEpoch, nextEpochEndsAt } = await getSettlementState(ctx);
 */
export async function getSettlementState(ctx: PlexusReader): Promise<SettlementState> {
  const blockNumber = await ctx.publicClient.getBlockNumber({ cacheTime: 0 });
  const read = (functionName: ViewName) => readOne(ctx, functionName, blockNumber);
  const [
    lastFinalizedEpoch,
    rewardsRoot,
    totalEarned,
    totalClaimed,
    epochDuration,
    genesisTime,
    validators,
    threshold,
  ] = await Promise.all([
    read('lastFinalizedEpoch'),
    read('rewardsRoot'),
    read('totalEarned'),
    read('totalClaimed'),
    read('epochDuration'),
    read('genesisTime'),
    read('validators'),
    read('threshold'),
  ]);
  const nextEpoch = (lastFinalizedEpoch as bigint) + 1n;
  return {
    lastFinalizedEpoch: lastFinalizedEpoch as bigint,
    nextEpoch,
    nextEpochEndsAt: (genesisTime as bigint) + nextEpoch * (epochDuration as bigint),
    rewardsRoot: rewardsRoot as Hex,
    totalEarned: totalEarned as bigint,
    totalClaimed: totalClaimed as bigint,
    epochDuration: epochDuration as bigint,
    genesisTime: genesisTime as bigint,
    validators: validators as readonly Address[],
    threshold: threshold as bigint,
  };
}

type ViewName =
  | 'lastFinalizedEpoch'
  | 'rewardsRoot'
  | 'totalEarned'
  | 'totalClaimed'
  | 'epochDuration'
  | 'genesisTime'
  | 'validators'
  | 'threshold';

function readOne(ctx: PlexusReader, functionName: ViewName, blockNumber: bigint): Promise<unknown> {
  return ctx.publicClient.readContract({
    address: ctx.addresses.settlement,
    abi: plexusAbis.settlement,
    functionName,
    blockNumber,
  });
}
