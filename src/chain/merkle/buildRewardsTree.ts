import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { type Address, getAddress, type Hex, isAddress } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { REWARDS_LEAF_ENCODING } from '../constants.ts';

/** One provider's cumulative lifetime earnings, in PLX base units. */
export type RewardEntry = { account: Address; cumulativeAmount: bigint };

/** A rewards tree: its root, the sum of its amounts, and proofs for claims. */
export type RewardsTree = {
  root: Hex;
  /** Sum of every cumulative amount: the `totalEarned` of the epoch payload. */
  totalEarned: bigint;
  /** The underlying OpenZeppelin tree (`tree.dump()` serializes it for later proofs). */
  tree: StandardMerkleTree<[string, bigint]>;
  /** The claim for `account` (any letter case; the returned address is checksummed), or undefined when it is not in the tree. */
  claimFor: (account: Address) => { account: Address; cumulativeAmount: bigint; proof: Hex[] } | undefined;
};

/**
 * Builds the epoch's rewards tree with OpenZeppelin's StandardMerkleTree over
 * `(address account, uint256 cumulativeAmount)` leaves, exactly as EpochSettlement.claim checks them.
 *
 * @example
 * const rewards = buildRewardsTree([{ account: alice, cumulativeAmount: 5n * PLX }]);
 * const claim = rewards.claimFor(alice); // { account, cumulativeAmount, proof }
 */
export function buildRewardsTree(entries: readonly RewardEntry[]): RewardsTree {
  if (entries.length === 0)
    throw new PlexusError('PLX_VALIDATION', 'a rewards tree needs at least one entry');
  const seen = new Set<string>();
  let totalEarned = 0n;
  const values: [string, bigint][] = entries.map(({ account, cumulativeAmount }) => {
    // Lower-case rather than checksum: checksumming costs a keccak per address, seconds for 100k providers.
    if (!isAddress(account, { strict: false }))
      throw new PlexusError('PLX_VALIDATION', `not an address: ${account}`);
    const key = account.toLowerCase();
    if (seen.has(key))
      throw new PlexusError('PLX_VALIDATION', `duplicate account ${account} in rewards tree`);
    if (cumulativeAmount < 0n) throw new PlexusError('PLX_VALIDATION', `negative amount for ${account}`);
    seen.add(key);
    totalEarned += cumulativeAmount;
    return [key, cumulativeAmount];
  });
  const tree = StandardMerkleTree.of(values, [...REWARDS_LEAF_ENCODING]);
  const index = new Map<string, number>();
  for (const [i, [account]] of tree.entries()) index.set(account, i);
  return {
    root: tree.root as Hex,
    totalEarned,
    tree,
    claimFor(account) {
      const i = index.get(account.toLowerCase());
      if (i === undefined) return undefined;
      const [addr, amount] = tree.at(i) as [string, bigint];
      return {
        account: getAddress(addr),
        cumulativeAmount: BigInt(amount),
        proof: tree.getProof(i) as Hex[],
      };
    },
  };
}
