import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createPublicClient, createWalletClient, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { getEscrowBalance } from '../chain/actions/client/getEscrowBalance.ts';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { getProvider } from '../chain/actions/provider/getProvider.ts';
import { connectPlexus } from '../chain/connectPlexus.ts';
import { GENESIS_SUPPLY, PLX } from '../chain/constants.ts';
import { deployPlexus, type PlexusDeployment } from '../chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../chain/startAnvil.ts';
import { openKeystore } from '../keystore/openKeystore.ts';
import { createLogger } from '../logger.ts';
import { capabilitiesDigest } from '../protocol/capabilities.ts';
import { hardwareClaim } from '../provider/hardware/hardwareClaim.ts';
import { probeHardware } from '../provider/hardware/probeHardware.ts';
import {
  DEVNET_CLIENT_ESCROW,
  DEVNET_CLIENT_WALLET,
  DEVNET_GAS_ETH,
  DEVNET_PROVIDER_WALLET,
  fundDevnetAccounts,
} from './fundDevnetAccounts.ts';

let anvil: AnvilInstance;
let deployment: PlexusDeployment;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plexus-fund-'));
  anvil = await startAnvil({ accounts: 2 });
  const transport = http(anvil.rpcUrl);
  deployment = await deployPlexus({
    publicClient: createPublicClient({ chain: anvil.chain, transport }),
    walletClient: createWalletClient({
      account: privateKeyToAccount(anvil.privateKeys[0]!),
      chain: anvil.chain,
      transport,
    }),
    validators: [privateKeyToAccount(anvil.privateKeys[1]!).address],
    minStake: 1_000n * PLX,
    epochDuration: 20n,
    withdrawalDelay: 40n,
  });
});
after(async () => {
  await anvil?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the devnet funds, registers and deposits every participant from the treasury', async () => {
  const hardware = await probeHardware();
  const keys = {
    password: 'pw',
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: createLogger('t', { level: 'silent' }),
  };
  const providers = [
    { keystore: `${dir}/p1/key.json`, region: 'eu-west' },
    { keystore: `${dir}/p2/key.json`, region: 'us-east' },
  ];
  const lines: string[] = [];
  const funded = await fundDevnetAccounts({
    rpcUrl: anvil.rpcUrl,
    deployment,
    treasuryKey: anvil.privateKeys[0] as Hex,
    providers,
    client: { keystore: `${dir}/client/key.json` },
    hardware,
    print: (l) => lines.push(l),
    ...keys,
  });
  const reader = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment });
  const digest = capabilitiesDigest(hardwareClaim(hardware, { useGpu: true }));
  for (const [i, p] of providers.entries()) {
    // The key the agent will open later is the one registered on chain.
    const account = await openKeystore(p.keystore, 'pw', { logger: keys.logger });
    assert.equal(funded.providers[i]!.address, account.address);
    const rec = await getProvider(reader, account.address);
    assert.equal(rec.registered, true);
    assert.equal(rec.active, true);
    assert.equal(rec.stake, deployment.minStake);
    assert.equal(rec.region, p.region);
    assert.equal(rec.capabilitiesDigest, digest);
    assert.equal(await getPlxBalance(reader, account.address), DEVNET_PROVIDER_WALLET);
    const eth = await reader.publicClient.getBalance({ address: account.address });
    assert.ok(eth > DEVNET_GAS_ETH - 10n ** 16n && eth < DEVNET_GAS_ETH, `gas was paid from ${eth}`);
  }
  const client = await openKeystore(`${dir}/client/key.json`, 'pw', { logger: keys.logger });
  assert.equal(funded.client?.address, client.address);
  assert.equal((await getEscrowBalance(reader, client.address)).balance, DEVNET_CLIENT_ESCROW);
  assert.equal(await getPlxBalance(reader, client.address), DEVNET_CLIENT_WALLET);
  const spent =
    2n * (deployment.minStake + DEVNET_PROVIDER_WALLET) + DEVNET_CLIENT_ESCROW + DEVNET_CLIENT_WALLET;
  assert.equal(await getPlxBalance(reader, deployment.treasury), GENESIS_SUPPLY - spent);
  assert.match(lines.join('\n'), /2 providers registered on chain with 1000 PLX stake each/);
});
