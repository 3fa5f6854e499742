/**
 * The chain side of test/settlement.test.ts: anvil, the contracts (3 validators, threshold 2), the
 * validators' and the finalize submitter's keystores, and three funded providers and a funded
 * client (keys under `dir`).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployPlexus, type PlexusDeployment } from '../../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../../src/chain/types.ts';
import { openStore } from '../../src/coordinator/store/openStore.ts';
import { fundDevnetAccounts } from '../../src/devnet/fundDevnetAccounts.ts';
import { DEVNET_PASSWORD } from '../../src/devnet/startDevnet.ts';
import { createKeystore } from '../../src/keystore/createKeystore.ts';
import { loadOrCreateKeystore } from '../../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../../src/logger.ts';
import { trustProvider } from './trustedProvider.ts';

const quiet = createLogger('test', { level: 'silent' });
const scrypt = { n: 1024, r: 8, p: 1 };

/**
 * Starts anvil, deploys, writes `dir/deployment.json`, creates and funds the keys; fills
 * `addresses` (honest-1, honest-2, always-wrong, client).
 *
 * @example
 * const chain = await deploySettlementChain(dir, 4, addresses);
 */
export async function deploySettlementChain(
  dir: string,
  epochSeconds: number,
  addresses: Record<string, string>,
): Promise<{
  anvil: AnvilInstance;
  deployment: PlexusDeployment;
  ctx: PlexusWriter;
  validatorKeystores: string[];
  submitterKeystore: string;
}> {
  const anvil = await startAnvil({ port: 0, blockTime: 1, mixedMining: true });
  const [deployerKey, v1, v2, v3, , , submitterKey] = anvil.privateKeys;
  const transport = http(anvil.rpcUrl);
  const publicClient = createPublicClient({ chain: anvil.chain, transport });
  const walletClient = createWalletClient({
    account: privateKeyToAccount(deployerKey!),
    chain: anvil.chain,
    transport,
  });
  const deployment = await deployPlexus({
    publicClient,
    walletClient,
    validators: [v1!, v2!, v3!].map((k) => privateKeyToAccount(k).address),
    threshold: 2,
    epochDuration: BigInt(epochSeconds),
    withdrawalDelay: BigInt(2 * epochSeconds),
  });
  const ctx = { publicClient, walletClient, addresses: deployment };
  await writeFile(
    join(dir, 'deployment.json'),
    // `coordinator`: the network's identity (the submitter), whose signature validators require on
    // every epoch claim (docs/validators.md, "Whose claim").
    JSON.stringify(
      { rpcUrl: anvil.rpcUrl, ...deployment, coordinator: privateKeyToAccount(submitterKey!).address },
      (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
    ),
  );
  const validatorKeystores = [];
  for (const [i, key] of [v1!, v2!, v3!].entries()) {
    const path = join(dir, `validator-${i}.json`);
    await createKeystore(path, DEVNET_PASSWORD, { privateKey: key, scrypt });
    validatorKeystores.push(path);
  }
  // Sends finalize transactions: gas only, not a validator.
  const submitterKeystore = join(dir, 'submitter.json');
  await createKeystore(submitterKeystore, DEVNET_PASSWORD, { privateKey: submitterKey!, scrypt });
  const keys = [];
  for (const name of ['honest-1', 'honest-2', 'always-wrong']) {
    const account = await loadOrCreateKeystore(join(dir, name, 'key.json'), DEVNET_PASSWORD, {
      scrypt,
      logger: quiet,
    });
    addresses[name] = account.address.toLowerCase();
    keys.push({ account, region: 'eu-west' });
  }
  const client = await loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, {
    scrypt,
    logger: quiet,
  });
  addresses.client = client.address.toLowerCase();
  await fundDevnetAccounts({
    rpcUrl: anvil.rpcUrl,
    deployment,
    treasuryKey: deployerKey!,
    providers: ['honest-1', 'honest-2', 'always-wrong'].map((name) => ({
      keystore: join(dir, name, 'key.json'),
      region: 'eu-west',
    })),
    client: { keystore: join(dir, 'client.json') },
    password: DEVNET_PASSWORD,
    scrypt,
    logger: quiet,
  });
  return { anvil, deployment, ctx, validatorKeystores, submitterKeystore };
}

/**
 * Writes a trusted record for `address` into the coordinator's SQLite store at `path` before the
 * coordinator first opens it (a genesis operator). Under "no fault without ground truth"
 * (docs/verification.md) an untrusted head count faults nobody: a cheater is caught, faulted and
 * slashed only where a trusted provider takes part.
 *
 * @example await trustInStore(join(dir, 'coordinator', 'plexus.db'), addresses['honest-1']!);
 */
export async function trustInStore(path: string, address: string): Promise<void> {
  const store = await openStore({ path });
  try {
    await trustProvider(store.db, address);
  } finally {
    await store.close();
  }
}
