/**
 * A withdrawal requested after a job was admitted must not leave its work unpaid: on a real anvil
 * with the coordinator in process, a queued job of a client who then asks to withdraw its whole
 * escrow starts no task (a provider is online and idle); once the withdrawal is cancelled the task
 * runs and the job completes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createPublicClient, createWalletClient, http, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { cancelWithdrawal } from '../src/chain/actions/client/cancelWithdrawal.ts';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { requestWithdrawal } from '../src/chain/actions/client/requestWithdrawal.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { deployPlexus, type PlexusDeployment } from '../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import { fundDevnetAccounts } from '../src/devnet/fundDevnetAccounts.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir, testCoordinator } from './helpers/fixtures.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

const EPOCH_SECONDS = 60;
const REFRESH_MS = 200;
const quiet = createLogger('test', { level: 'silent' });
const scrypt = { n: 1024, r: 8, p: 1 };

let dir: string;
let cleanup: () => Promise<void>;
let anvil: AnvilInstance;
let deployment: PlexusDeployment;
let coord: Awaited<ReturnType<typeof testCoordinator>>;
let coordConfig: Parameters<typeof testCoordinator>[0];
let clientAccount: LocalAccount;
let providerAccount: LocalAccount;
let client: PlexusClient;
let raw: RawProvider | undefined;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-escrow-hold-'));
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
    epochDuration: BigInt(EPOCH_SECONDS),
    withdrawalDelay: BigInt(2 * EPOCH_SECONDS),
  });
  await writeFile(
    join(dir, 'deployment.json'),
    JSON.stringify({ rpcUrl: anvil.rpcUrl, ...deployment }, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
  );
  const validator = join(dir, 'validator.json');
  await createKeystore(validator, DEVNET_PASSWORD, { privateKey: v1!, scrypt });
  const opts = { scrypt, logger: quiet };
  providerAccount = await loadOrCreateKeystore(join(dir, 'provider.json'), DEVNET_PASSWORD, opts);
  clientAccount = await loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, opts);
  await fundDevnetAccounts({
    rpcUrl: anvil.rpcUrl,
    deployment,
    treasuryKey: deployerKey!,
    providers: [{ keystore: join(dir, 'provider.json'), region: 'eu-west' }],
    client: { keystore: join(dir, 'client.json') },
    password: DEVNET_PASSWORD,
    scrypt,
    logger: quiet,
  });
  coordConfig = {
    dataDir: join(dir, 'coordinator'),
    deployment: join(dir, 'deployment.json'),
    validatorKeystores: [validator],
    validatorPassword: DEVNET_PASSWORD,
    epochSeconds: EPOCH_SECONDS,
    chainRefreshMs: REFRESH_MS,
  };
  coord = await testCoordinator(coordConfig);
  client = createClient({ url: coord.url, account: clientAccount });
});

after(async () => {
  await raw?.close();
  await coord?.cleanup();
  await anvil?.stop();
  await cleanup?.();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a withdrawal requested after admission holds the unstarted tasks; cancelling it lets them run', async () => {
  const writer = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, addresses: deployment },
    clientAccount,
  );
  const model = (await client.uploadFile(ppocrDetectionModelPath())).cid;
  const input = (await client.uploadBlob(encodeSafetensors(ocrInput(1)))).cid;
  // Admitted while the escrow covers it; no provider is online yet, so it waits in the queue.
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model,
    inputs: [input],
    deadline: Math.floor(Date.now() / 1000) + 300,
    verification: { policy: 'none' },
  });
  const { balance } = await getEscrowBalance(writer, clientAccount.address);
  await requestWithdrawal(writer, balance);
  await waitUntil(() => coord.market.clientHeld(clientAccount.address), 'the client was not held');

  raw = await connectRawProvider(coord.url, providerAccount);
  // The provider is idle and eligible (it gets the task below once the hold lifts), yet for many
  // refresh periods it is offered nothing of the held client's.
  await sleep(10 * REFRESH_MS);
  assert.equal(raw.take('assign'), undefined, 'a task of a held client was started');
  assert.equal((await client.getJob(jobId)).status, 'queued');

  await cancelWithdrawal(writer);
  const assign = await raw.next('assign', 15_000);
  assert.equal((await raw.deliver(assign, ocrInput(1))).accepted, true);
  const final = await client.waitForJob(jobId, undefined, AbortSignal.timeout(30_000));
  assert.equal(final.status, 'completed');
  assert.equal(coord.market.clientHeld(clientAccount.address), false);
});

// Security review: an audited job's unchecked outputs were billed only at the job's end, so a client
// that had outputs delivered, asked to withdraw, and kept the job open (a task held back, a far
// deadline) took its whole escrow back unbilled. A held client's delivered outputs are billed now.
test("a held client's delivered, unchecked outputs are billed at once, not at the job's end", async () => {
  const writer = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, addresses: deployment },
    clientAccount,
  );
  raw ??= await connectRawProvider(coord.url, providerAccount);
  const model = (await client.uploadFile(ppocrDetectionModelPath())).cid;
  const inputs: string[] = [];
  for (let i = 0; i < 3; i++) inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(10 + i)))).cid);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model,
    inputs,
    deadline: Math.floor(Date.now() / 1000) + 600,
  });
  const charged = async () =>
    (
      await coord.store.db
        .selectFrom('ledger_entries')
        .select('memo')
        .where('job_id', '=', jobId)
        .where('kind', '=', 'charge')
        .execute()
    ).map((e) => (JSON.parse(e.memo) as { taskId: string }).taskId);
  const a0 = await raw.next('assign', 20_000);
  const task0 = (await leaseTask(coord.store.db, a0)).taskId;
  assert.equal((await raw.deliver(a0, ocrInput(100))).accepted, true);
  await waitFor(
    async () => (await client.getJob(jobId)).tasks.find((t) => t.id === task0)?.status === 'completed',
    'task 0 did not complete',
  );
  const verdict = await coord.store.db
    .selectFrom('task_verifications')
    .select('verdict')
    .where('task_id', '=', task0)
    .executeTakeFirstOrThrow();
  assert.equal(
    (JSON.parse(verdict.verdict ?? '{}') as { verified: boolean }).verified,
    false,
    'task 0 was checked: nothing deferred',
  );
  assert.deepEqual(await charged(), [], "an unchecked output was billed before its job's end without a hold");

  const a1 = await raw.next('assign', 20_000);
  const { balance } = await getEscrowBalance(writer, clientAccount.address);
  await requestWithdrawal(writer, balance);
  await waitUntil(() => coord.market.clientHeld(clientAccount.address), 'the client was not held');
  await waitFor(
    async () => (await charged()).includes(task0),
    "the held client's delivered output was not billed",
  );
  // An output delivered while held is billed at the next re-read too.
  assert.equal((await raw.deliver(a1, ocrInput(101))).accepted, true);
  await waitFor(
    async () => (await charged()).includes((await leaseTask(coord.store.db, a1)).taskId),
    'an output delivered while held was not billed',
  );
  assert.equal(raw.take('assign'), undefined, 'a task of a held client was started');
  await cancelWithdrawal(writer);
  await waitUntil(() => !coord.market.clientHeld(clientAccount.address), 'the hold was not lifted');
});

test('a restarted coordinator knows a held client before any provider connects', async () => {
  // The holds are kept in memory: a new process leased a held client's tasks until its first
  // refresh (a review noticed). The refresh here comes only once a minute, so only the start can have read it.
  const writer = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: deployment.chainId, addresses: deployment },
    clientAccount,
  );
  const model = (await client.uploadFile(ppocrDetectionModelPath())).cid;
  const input = (await client.uploadBlob(encodeSafetensors(ocrInput(2)))).cid;
  await client.submitJob({
    kind: 'onnx.infer',
    model,
    inputs: [input],
    deadline: Math.floor(Date.now() / 1000) + 300,
    verification: { policy: 'none' },
  });
  await raw?.close();
  raw = undefined;
  const { balance } = await getEscrowBalance(writer, clientAccount.address);
  await requestWithdrawal(writer, balance);
  await coord.stop();
  coord = await testCoordinator({ ...coordConfig, chainRefreshMs: 60_000 });
  assert.equal(coord.market.clientHeld(clientAccount.address), true, 'the restarted process forgot the hold');
});

async function waitFor(check: () => Promise<boolean>, message: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, message);
    await sleep(100);
  }
}

async function waitUntil(check: () => boolean, message: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < deadline, message);
    await sleep(50);
  }
}
