/**
 * The rewards tree's leaves come from the ledger alone: each provider's cumulative lifetime
 * earnings (the credit balance of `provider:<address>:earnings`) over entries of epochs ≤ an epoch.
 * Settlement builds the tree when it closes an epoch, and `ledger verify` rebuilds it to prove a
 * settled epoch's root, so it lives here, below settlement. Pure (no store): the epoch computation
 * imports it, and so can a validator outside the coordinator; cumulativeEarnings.ts reads the store.
 */
import { type Address, type Hex, zeroHash } from 'viem';
import { buildRewardsTree } from '../../chain/merkle/buildRewardsTree.ts';

// A client's refund of an overturned output (`provider:<client>:refunds`) is claimed the same way.
const EARNINGS = /^provider:(0x[0-9a-f]{40}):(?:earnings|refunds)$/;

/**
 * Cumulative earnings per provider from account balances (any accounts; only
 * `provider:<address>:earnings` and `provider:<address>:refunds` with a credit balance count,
 * summed per address), in the balances' order of each address's first account. Pure: the
 * epoch computation runs it over balances it simulated, `cumulativeEarnings` over the store's.
 *
 * @example
 * earningsOfBalances([['provider:0xab…:earnings', -5n], ['protocol:fees', -1n]]); // Map { '0xab…' => 5n }
 */
export function earningsOfBalances(balances: Iterable<readonly [string, bigint]>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [account, bal] of balances) {
    const m = EARNINGS.exec(account);
    if (m && bal < 0n) out.set(m[1]!, (out.get(m[1]!) ?? 0n) - bal);
  }
  return out;
}

/**
 * The rewards tree of a set of cumulative earnings, as settlement stores it.
 *
 * @example
 * const { root, totalEarned, dump }: Rewards = rewardsOf(earned);
 */
export type Rewards = {
  /** Merkle root (the zero hash when nobody earned). */
  root: Hex;
  /** Sum of the leaves: the payload's `totalEarned`. */
  totalEarned: bigint;
  /** `StandardMerkleTree.dump()` as JSON (bigints as decimal strings), for proofs; null when empty. */
  dump: string | null;
};

/**
 * The rewards root and total of a set of cumulative earnings (zero root when nobody earned).
 * Leaves keep the map's order, so the stored dump is the same whoever builds it.
 *
 * @example
 * const { root, totalEarned, dump } = rewardsOf(new Map([['0xab…', 5n]]));
 */
export function rewardsOf(earned: ReadonlyMap<string, bigint>): Rewards {
  const entries = [...earned]
    .filter(([, v]) => v > 0n)
    .map(([account, cumulativeAmount]) => ({ account: account as Address, cumulativeAmount }));
  if (entries.length === 0) return { root: zeroHash, totalEarned: 0n, dump: null };
  const t = buildRewardsTree(entries);
  return {
    root: t.root,
    totalEarned: t.totalEarned,
    dump: JSON.stringify(t.tree.dump(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  };
}
