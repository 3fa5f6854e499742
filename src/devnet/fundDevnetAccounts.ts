import { createTestClient, formatUnits, type Hex, http, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deposit } from '../chain/actions/client/deposit.ts';
import { registerProvider } from '../chain/actions/provider/registerProvider.ts';
import { transferPlx } from '../chain/actions/transferPlx.ts';
import { connectPlexus } from '../chain/connectPlexus.ts';
import { PLX } from '../chain/constants.ts';
import type { PlexusDeployment } from '../chain/deployPlexus.ts';
import type { ScryptParams } from '../keystore/keystoreV3.ts';
import { loadOrCreateKeystore } from '../keystore/loadOrCreateKeystore.ts';
import type { Logger } from '../logger.ts';
import { capabilitiesDigest } from '../protocol/capabilities.ts';
import { hardwareClaim } from '../provider/hardware/hardwareClaim.ts';
import { type HardwareProfile, probeHardware } from '../provider/hardware/probeHardware.ts';

/** ETH each devnet account gets for gas (anvil_setBalance: test ETH, worth nothing). */
export const DEVNET_GAS_ETH = parseEther('100');
/** PLX the client deposits into escrow at start. */
export const DEVNET_CLIENT_ESCROW = 50_000n * PLX;
/** PLX the client keeps in its wallet besides, for `plexus client deposit`. */
export const DEVNET_CLIENT_WALLET = 50_000n * PLX;
/** PLX each provider keeps in its wallet besides its stake, for `plexus provider stake`. */
export const DEVNET_PROVIDER_WALLET = 1_000n * PLX;

/** Parameters of fundDevnetAccounts. */
export type FundDevnetAccountsParameters = {
  rpcUrl: string;
  deployment: PlexusDeployment;
  /** Key of the treasury (the devnet's deployer), which holds the genesis supply. */
  treasuryKey: Hex;
  /** Each provider's key file (created if missing, so the agent started later opens the same key) and region. */
  providers: readonly { keystore: string; region: string }[];
  /** The client's key file (created if missing); none when only providers join (a later provider). */
  client?: { keystore: string };
  password: string;
  scrypt?: ScryptParams;
  /** The machine the providers run on; default: probe this one (the devnet's agents run here too). */
  hardware?: HardwareProfile;
  logger?: Logger;
  /** Where to say what was done (one line). */
  print?: (line: string) => void;
};

/** What fundDevnetAccounts did. */
export type FundedDevnet = {
  providers: { address: Hex; region: string; stake: bigint }[];
  client?: { address: Hex; escrow: bigint };
};

/**
 * Puts the devnet's participants on chain right after deployment: from the treasury, each provider
 * key and the client key get ETH for gas (anvil_setBalance) and PLX; each provider registers with
 * the registry's minimum stake, its devnet region and the capabilities digest of this machine's
 * hardware probe; the client deposits an escrow. Afterwards every provider the coordinator sees is
 * active on chain and the client can pay for work.
 *
 * @example
 * const funded = await fundDevnetAccounts({ rpcUrl, deployment, treasuryKey, password,
 *   providers: [{ keystore: 'p1/key.json', region: 'eu-west' }], client: { keystore: 'client/key.json' } });
 */
export async function fundDevnetAccounts(p: FundDevnetAccountsParameters): Promise<FundedDevnet> {
  const keyOptions = {
    ...(p.scrypt === undefined ? {} : { scrypt: p.scrypt }),
    ...(p.logger === undefined ? {} : { logger: p.logger }),
  };
  const providerAccounts = await Promise.all(
    p.providers.map((x) => loadOrCreateKeystore(x.keystore, p.password, keyOptions)),
  );
  const clientAccount =
    p.client === undefined
      ? undefined
      : await loadOrCreateKeystore(p.client.keystore, p.password, { ...keyOptions, role: 'client' });
  const target = { rpcUrl: p.rpcUrl, chainId: p.deployment.chainId, addresses: p.deployment };
  const treasury = connectPlexus(target, privateKeyToAccount(p.treasuryKey));
  const testClient = createTestClient({ mode: 'anvil', transport: http(p.rpcUrl) });
  const stake = p.deployment.minStake;

  // One sender (the treasury), so these go one after another; each waits for its receipt.
  for (const account of [...providerAccounts, ...(clientAccount ? [clientAccount] : [])])
    await testClient.setBalance({ address: account.address, value: DEVNET_GAS_ETH });
  for (const account of providerAccounts)
    await transferPlx(treasury, account.address, stake + DEVNET_PROVIDER_WALLET);
  if (clientAccount)
    await transferPlx(treasury, clientAccount.address, DEVNET_CLIENT_ESCROW + DEVNET_CLIENT_WALLET);

  const digest = capabilitiesDigest(hardwareClaim(p.hardware ?? (await probeHardware()), { useGpu: true }));
  // Different senders from here on, so they can go in parallel.
  await Promise.all([
    ...providerAccounts.map((account, i) =>
      registerProvider(connectPlexus(target, account), {
        stake,
        capabilitiesDigest: digest,
        region: p.providers[i]!.region,
        uri: `plexus-devnet:provider/${account.address}`,
      }),
    ),
    ...(clientAccount ? [deposit(connectPlexus(target, clientAccount), DEVNET_CLIENT_ESCROW)] : []),
  ]);
  p.print?.(
    `funded       ${providerAccounts.length} provider${providerAccounts.length === 1 ? '' : 's'} registered on chain with ${formatUnits(stake, 18)} PLX stake each` +
      (clientAccount
        ? `; client ${clientAccount.address} has ${formatUnits(DEVNET_CLIENT_ESCROW, 18)} PLX in escrow`
        : ''),
  );
  return {
    providers: providerAccounts.map((a, i) => ({
      address: a.address,
      region: p.providers[i]!.region,
      stake,
    })),
    ...(clientAccount ? { client: { address: clientAccount.address, escrow: DEVNET_CLIENT_ESCROW } } : {}),
  };
}
