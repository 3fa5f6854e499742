/**
 * `plexus devnet faucet` and the no-funds path a new user hits: a fresh key on a devnet chain
 * cannot pay gas (`PLX_INSUFFICIENT_GAS`, naming the faucet command with its address), the faucet
 * gives it ETH and PLX from the treasury, and the same deposit then goes through.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createPublicClient, createWalletClient, http, keccak256, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus } from '../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { deploymentFileJson } from '../src/protocol/deployment.ts';
import { tempDir } from './helpers/fixtures.ts';

const PASSWORD = 'faucet test passphrase';
let anvil: AnvilInstance;
let dir: string;
let cleanup: () => Promise<void>;
let deploymentFile: string;

function plexus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [PLEXUS_BIN, ...args],
      {
        env: { ...process.env, PLEXUS_KEYSTORE_PASSWORD: PASSWORD, PLEXUS_LOG_LEVEL: 'warn' },
        timeout: 180_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-faucet-'));
  anvil = await startAnvil({ accounts: 1 });
  const transport = http(anvil.rpcUrl);
  const validators = [1, 2, 3].map(
    (i) => privateKeyToAccount(keccak256(toHex(`faucet validator ${i}`))).address,
  );
  const deployment = await deployPlexus({
    publicClient: createPublicClient({ chain: anvil.chain, transport }),
    walletClient: createWalletClient({
      account: privateKeyToAccount(anvil.privateKeys[0]!),
      chain: anvil.chain,
      transport,
    }),
    validators,
    threshold: 2,
    minStake: 1_000n * PLX,
    epochDuration: 20n,
    withdrawalDelay: 40n,
    unbondingPeriod: 60n,
  });
  deploymentFile = join(dir, 'deployment.json');
  await writeFile(deploymentFile, deploymentFileJson({ rpcUrl: anvil.rpcUrl, ...deployment }));
});
after(async () => {
  await anvil.stop();
  await cleanup();
});

test('a fresh key gets PLX_INSUFFICIENT_GAS naming the faucet; after the faucet the deposit works', async () => {
  const keystore = join(dir, 'client.json');
  const { address } = await createKeystore(keystore, PASSWORD, { scrypt: { n: 1024, r: 8, p: 1 } });
  const chain = ['--keystore', keystore, '--deployment', deploymentFile];

  const broke = await plexus(['client', 'deposit', '100', ...chain]);
  assert.equal(broke.code, 1, broke.stderr);
  const line = broke.stderr.trim().split('\n').at(-1)!;
  assert.match(line, /^error PLX_INSUFFICIENT_GAS: /);
  assert.ok(line.includes(`plexus devnet faucet ${address}`), line);
  assert.match(line, /has 0 ETH but a transaction needs about [0-9.]+ ETH of gas/);

  const funded = await plexus(['devnet', 'faucet', address, '--deployment', deploymentFile, '--json']);
  assert.equal(funded.code, 0, funded.stderr);
  const r = JSON.parse(funded.stdout) as { plxBalance: string; ethBalance: string };
  assert.equal(r.plxBalance, String(1_000n * PLX));
  assert.ok(BigInt(r.ethBalance) >= 10n ** 19n, 'BigInt(r.ethBalance) >= 10n ** 19n');

  const human = await plexus(['devnet', 'faucet', address, '--deployment', deploymentFile, '--plx', '0.5']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /\+0\.5 PLX/);
  assert.match(human.stdout, /1000\.5 PLX in the wallet/);

  const ok = await plexus(['client', 'deposit', '100', ...chain]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /deposited 100 PLX; escrow 100 PLX/);
});
