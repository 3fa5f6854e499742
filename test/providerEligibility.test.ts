/**
 * Issue 22: a provider that gets no work must be told why. On a real anvil with the coordinator
 * in process and a real provider agent: a fresh key that is not registered is listed as not
 * eligible (`not-registered`) by `GET /v1/providers/:address` and the agent logs a warning saying
 * so; once the key is registered and staked it becomes eligible (the agent logs it); when part of
 * its stake starts unbonding it is not eligible again (`unbonding`, with how to re-bond).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { createPublicClient, createWalletClient, http, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { requestUnbonding } from '../src/chain/actions/provider/requestUnbonding.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus, type PlexusDeployment } from '../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import { fundDevnetAccounts } from '../src/devnet/fundDevnetAccounts.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { type ProviderView, providerViewSchema } from '../src/protocol/http/providers.ts';
import { type Provider, startProvider } from '../src/provider/agent/startProvider.ts';
import { tempDir, testCoordinator } from './helpers/fixtures.ts';

const quiet = createLogger('test', { level: 'silent' });
const scrypt = { n: 1024, r: 8, p: 1 };

let dir: string;
let cleanup: () => Promise<void>;
let anvil: AnvilInstance;
let deployment: PlexusDeployment;
let coord: Awaited<ReturnType<typeof testCoordinator>>;
let account: LocalAccount;
let agent: Provider | undefined;
const lines: { level: number; msg: string; reasons?: string[] }[] = [];

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-eligibility-'));
  anvil = await startAnvil({ port: 0, blockTime: 1, mixedMining: true });
  const [deployerKey, v1] = anvil.privateKeys;
  const transport = http(anvil.rpcUrl);
  deployment = await deployPlexus({
    publicClient: createPublicClient({ chain: anvil.chain, transport }),
    walletClient: createWalletClient({
      account: privateKeyToAccount(deployerKey!),
      chain: anvil.chain,
      transport,
    }),
    validators: [privateKeyToAccount(v1!).address],
    threshold: 1,
    epochDuration: 60n,
    withdrawalDelay: 120n,
  });
  await writeFile(
    join(dir, 'deployment.json'),
    JSON.stringify({ rpcUrl: anvil.rpcUrl, ...deployment }, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
  );
  const validator = join(dir, 'validator.json');
  await createKeystore(validator, DEVNET_PASSWORD, { privateKey: v1!, scrypt });
  account = await loadOrCreateKeystore(join(dir, 'provider', 'key.json'), DEVNET_PASSWORD, {
    scrypt,
    logger: quiet,
  });
  coord = await testCoordinator({
    deployment: join(dir, 'deployment.json'),
    validatorKeystores: [validator],
    validatorPassword: DEVNET_PASSWORD,
    epochSeconds: 60,
    chainRefreshMs: 200,
  });
});

after(async () => {
  await agent?.close();
  await coord?.cleanup();
  await anvil?.stop();
  await cleanup?.();
});

async function viewOf(address: string): Promise<ProviderView> {
  const res = await fetch(`${coord.url}/v1/providers/${address.toLowerCase()}`);
  assert.equal(res.status, 200, await res.clone().text());
  return providerViewSchema.parse(await res.json());
}

async function waitUntil<T>(
  f: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a provider is told it is not eligible for work and why, then eligible once staked, then not while unbonding', async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  agent = await startProvider({
    coordinatorUrl: coord.url,
    account,
    dataDir: join(dir, 'provider'),
    log: pino({ level: 'debug' }, sink),
    eligibilityCheck: { firstDelayMs: 300, intervalMs: 300 },
  });
  await agent.ready;

  // 1. Not registered: the API and the agent's log both say so, with the command to run.
  const unregistered = await waitUntil(async () => {
    const v = await viewOf(account.address);
    return v.eligibility.reasons.some((r) => r.code === 'not-registered') ? v : undefined;
  }, 'the API never said not-registered');
  assert.equal(unregistered.eligibility.eligible, false);
  assert.match(unregistered.eligibility.reasons[0]!.message, /plexus provider register --stake 1000 /);
  const warned = await waitUntil(
    () => lines.find((l) => l.level === 40 && /^not eligible for work: not registered on chain/.test(l.msg)),
    'the agent never warned that it is not registered',
  );
  assert.deepEqual(warned.reasons, ['not-registered']);
  const listed = (await (await fetch(`${coord.url}/v1/providers`)).json()) as { providers: ProviderView[] };
  assert.equal(listed.providers[0]?.eligibility.eligible, false, 'the list carries eligibility too');

  // 2. Registered with the minimum stake: eligible, and the agent says so.
  await fundDevnetAccounts({
    rpcUrl: anvil.rpcUrl,
    deployment,
    treasuryKey: anvil.privateKeys[0]!,
    providers: [{ keystore: join(dir, 'provider', 'key.json'), region: 'eu-west' }],
    password: DEVNET_PASSWORD,
    scrypt,
    logger: quiet,
  });
  await waitUntil(
    async () => (await viewOf(account.address)).eligibility.eligible,
    'never eligible after staking',
  );
  await waitUntil(
    () => lines.find((l) => l.level === 30 && /^eligible for work/.test(l.msg)),
    'the agent never said it is eligible',
  );
  assert.equal(agent.eligibility()?.eligible, true);

  // 3. Unbonding any part of the stake stops new work: said, with how to undo it.
  const writer = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, addresses: deployment },
    account,
  );
  await requestUnbonding(writer, 1n * PLX);
  const unbonding = await waitUntil(async () => {
    const v = await viewOf(account.address);
    return v.eligibility.reasons.some((r) => r.code === 'unbonding') ? v : undefined;
  }, 'the API never said unbonding');
  assert.match(
    unbonding.eligibility.reasons.map((r) => r.message).join(' '),
    /1 PLX is unbonding.*unbond --cancel/,
  );
  await waitUntil(
    () => lines.find((l) => l.level === 40 && /^not eligible for work: .*1 PLX is unbonding/.test(l.msg)),
    'the agent never warned about unbonding',
  );

  // An address the coordinator never saw is a clear 404, not an empty view.
  const unknown = await fetch(`${coord.url}/v1/providers/0x${'12'.repeat(20)}`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'PLX_NOT_FOUND');
});
