import { type Address, createWalletClient, type Hex, http, type LocalAccount, parseEther } from 'viem';
import { deposit } from '../chain/actions/client/deposit.ts';
import { registerProvider } from '../chain/actions/provider/registerProvider.ts';
import { transferPlx } from '../chain/actions/transferPlx.ts';
import { connectPlexus } from '../chain/connectPlexus.ts';
import { PLX } from '../chain/constants.ts';
import type { PlexusDeployment } from '../chain/deployPlexus.ts';
import type { PlexusWriter } from '../chain/types.ts';

/** PLX the devnet gives each provider (it stakes minStake of it) and deposits for the client. */
export const DEVNET_PROVIDER_PLX = 2_000n * PLX;
export const DEVNET_CLIENT_ESCROW = 10_000n * PLX;

/**
 * Funds the devnet's participants from the treasury (anvil account 0): each provider gets ETH and
 * PLX and registers with `minStake`; the client gets ETH and PLX and deposits it into escrow.
 * (The `chaincli` branch adds the same through the participant CLI; whichever lands keeps one.)
 *
 * @example
 * await fundParticipants({ rpcUrl, deployment, treasuryKey, providers: [{ account, region }], client });
 */
export async function fundParticipants(opts: {
  rpcUrl: string;
  deployment: PlexusDeployment;
  treasuryKey: Hex;
  providers: readonly { account: LocalAccount; region: string }[];
  client: LocalAccount;
}): Promise<void> {
  const params = { rpcUrl: opts.rpcUrl, chainId: opts.deployment.chainId, addresses: opts.deployment };
  const treasury = connectPlexus(params, opts.treasuryKey);
  const writerOf = (account: LocalAccount): PlexusWriter => ({
    publicClient: treasury.publicClient,
    addresses: opts.deployment,
    walletClient: createWalletClient({
      account,
      chain: treasury.walletClient.chain,
      transport: http(opts.rpcUrl),
    }),
  });
  const gas = async (to: Address) => {
    const hash = await treasury.walletClient.sendTransaction({
      to,
      value: parseEther('10'),
      account: treasury.walletClient.account,
      chain: treasury.walletClient.chain,
    });
    await treasury.publicClient.waitForTransactionReceipt({ hash });
  };
  for (const p of opts.providers) {
    const w = writerOf(p.account);
    const address = w.walletClient.account.address;
    await gas(address);
    await transferPlx(treasury, address, DEVNET_PROVIDER_PLX);
    await registerProvider(w, {
      stake: opts.deployment.minStake,
      capabilitiesDigest: `0x${'00'.repeat(32)}`,
      region: p.region,
      uri: 'plexus-devnet://provider',
    });
  }
  const c = writerOf(opts.client);
  await gas(c.walletClient.account.address);
  await transferPlx(treasury, c.walletClient.account.address, DEVNET_CLIENT_ESCROW);
  await deposit(c, DEVNET_CLIENT_ESCROW);
}
