/**
 * Who funded a provider's stake, read from the chain (kinship.ts "funder kin"). The registry pulls
 * the stake from the provider's own account, so the funder is whoever sent that account its first
 * PLX: the sender of the earliest PLX `Transfer` into it, not counting mints (emission) and
 * Plexus's own contracts (reward claims, escrow refunds). Ring members funded from one wallet then
 * share a funder; a provider that funded another is its owner. A provider whose first PLX came from
 * an account that received minted PLX (the genesis treasury, which funds every provider of a
 * devnet) has no funder that tells anything (null).
 *
 * The lookup answers for any account, not only providers, so kinship.ts follows a funding chain a
 * few hops (A funds X funds P1, A funds P2: P1 and P2 are kin through A). `isRegistered` tells
 * whether an account is a registered provider: only those count toward a funder's family size (the
 * hub exemption), so a ring cannot make its wallet look like a faucet by funding throwaway
 * identities that connect a session but never stake.
 */
import type { Address } from 'viem';
import { plexusAbis } from '../../chain/abis.ts';
import type { PlexusReader } from '../../chain/types.ts';

const ZERO = '0x0000000000000000000000000000000000000000';

/**
 * Who funded an account (its first PLX; null when nobody that tells anything did), and optionally
 * whether an account is a registered provider (absent: every provider counts as registered).
 *
 * @example
 * const funderOf: FunderLookup = chainFunderOf(reader);
 * const parent = await funderOf('0xabc…');
 */
export type FunderLookup = ((account: string) => Promise<string | null>) & {
  isRegistered?: (provider: string) => Promise<boolean>;
};

/**
 * A `funderOf` for the work loop over `chain` (lower-case address, or null when the provider
 * never received PLX from an account).
 *
 * @example
 * createWorkLoop({ ...deps, funderOf: chainFunderOf(reader) });
 */
export function chainFunderOf(chain: PlexusReader): FunderLookup {
  const { token, registry, escrow, settlement } = chain.addresses;
  const ours = new Set([ZERO, token, registry, escrow, settlement].map((a) => a.toLowerCase()));
  // Accounts that received minted PLX (the genesis treasury): they fund everyone on a devnet and
  // say nothing about an operator (read once).
  let minted: Promise<Set<string>> | undefined;
  const mintRecipients = () => {
    minted ??= chain.publicClient
      .getContractEvents({
        address: chain.addresses.token,
        abi: plexusAbis.token,
        eventName: 'Transfer',
        args: { from: ZERO as Address },
        fromBlock: 0n,
        toBlock: 'latest',
      })
      .then((ls) => new Set(ls.map((l) => String((l.args as { to?: string }).to ?? '').toLowerCase())))
      .catch((err: unknown) => {
        minted = undefined;
        throw err;
      });
    return minted;
  };
  const lookup = async (provider: string): Promise<string | null> => {
    const hubs = await mintRecipients();
    const logs = await chain.publicClient.getContractEvents({
      address: chain.addresses.token,
      abi: plexusAbis.token,
      eventName: 'Transfer',
      args: { to: provider as Address },
      fromBlock: 0n,
      toBlock: 'latest',
    });
    for (const l of logs) {
      const from = (l.args as { from?: string }).from?.toLowerCase();
      if (!from || ours.has(from)) continue;
      // Funded by the treasury (a mint recipient): nothing to tell.
      return hubs.has(from) ? null : from;
    }
    return null;
  };
  const isRegistered = (provider: string) =>
    chain.publicClient.readContract({
      address: chain.addresses.registry,
      abi: plexusAbis.registry,
      functionName: 'isRegistered',
      args: [provider as Address],
    });
  return Object.assign(lookup, { isRegistered });
}
