/**
 * A coordinator that hides the audits it drew, on a real anvil with real processes: three
 * independent `plexus validator` processes, two honest providers, and a coordinator whose evidence
 * publishes every audit its charged tasks drew as not drawn (test-only option `hide-audits` in
 * test/helpers/crashingCoordinator.ts). Each validator replays the draws (src/validator/checkDraws.ts),
 * refuses the epoch naming the audit, records the dispute; the epoch is never finalized on chain,
 * so no money moves: the client's escrow is untouched and the providers can claim nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import type { AnvilInstance } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { createClient } from '../src/client/createClient.ts';
import { DEVNET_CLIENT_ESCROW } from '../src/devnet/fundDevnetAccounts.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import type { EpochList, EpochView } from '../src/protocol/http/market.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';
import { deploySettlementChain } from './helpers/settlementChain.ts';
import { spawnCrashingCoordinator } from './helpers/spawnCrashingCoordinator.ts';
import { spawnValidator } from './helpers/spawnValidator.ts';

const EPOCH_SECONDS = 4;
const quiet = createLogger('test', { level: 'silent' });
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};

let dir: string;
let cleanup: () => Promise<void>;
let anvil: AnvilInstance;
let ctx: PlexusWriter;
let url: string;
let coordinator: NodeChild | undefined;
const children: NodeChild[] = [];
const validatorUrls: string[] = [];
const addresses: Record<string, string> = {};

const epochs = async (): Promise<EpochView[]> =>
  ((await (await fetch(`${url}/v1/epochs`)).json()) as EpochList).epochs;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-validator-audits-'));
  let validatorKeystores: string[];
  let submitterKeystore: string;
  ({ anvil, ctx, validatorKeystores, submitterKeystore } = await deploySettlementChain(
    dir,
    EPOCH_SECONDS,
    addresses,
  ));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 3; i++) validatorUrls.push(`http://127.0.0.1:${await freePort()}`);
  for (let i = 0; i < 3; i++) {
    const v = spawnValidator(i, {
      keystore: validatorKeystores[i]!,
      dir,
      coordinator: url,
      url: validatorUrls[i]!,
      env,
      print,
    });
    children.push(v);
    await v.waitFor('PLEXUS_VALIDATOR_READY', 120_000);
  }
  const args = ['--port', String(port), '--data-dir', join(dir, 'coordinator')];
  args.push('--deployment', join(dir, 'deployment.json'), '--rpc-url', anvil.rpcUrl);
  args.push('--epoch-seconds', String(EPOCH_SECONDS), '--validator-url', ...validatorUrls);
  args.push('--submitter-keystore', submitterKeystore);
  coordinator = spawnCrashingCoordinator('hide-audits', args, { env, print });
  await coordinator.waitFor('PLEXUS_COORDINATOR_READY', 120_000);
  for (const name of ['honest-1', 'honest-2']) {
    const p = spawnPlexus(name, ['provider', 'start', '--coordinator', url, '--data-dir', join(dir, name)], {
      env,
      print,
    });
    children.push(p);
    await p.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
  }
});

after(async () => {
  await coordinator?.stop(5000);
  await Promise.all(children.map((c) => c.stop(5000)));
  await anvil?.stop();
  await cleanup?.();
});

test('an audit drawn but published as not drawn: no validator signs, the dispute names the audit, no money moves', {
  timeout: 900_000,
}, async () => {
  const account = await loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  const c = createClient({ url, account });
  const model = await c.uploadFile(ppocrDetectionModelPath());
  const inputs = [];
  for (let i = 0; i < 2; i++) inputs.push((await c.uploadBlob(encodeSafetensors(ocrInput(i)))).cid);
  // Newcomers are audited at rate 1 while another provider is online: every task draws an audit.
  const { jobId } = await c.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs,
    deadline: Math.floor(Date.now() / 1000) + 600,
    verification: { policy: 'audit' },
  });
  assert.equal((await c.waitForJob(jobId)).status, 'completed');

  type Dispute = { epoch: number; fact: string; claimed: string; recomputed: string };
  const found: Dispute[] = [];
  await waitUntil(
    'every validator to refuse the epoch that hides its audits',
    async () => {
      found.length = 0;
      for (const v of validatorUrls) {
        const d = ((await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: Dispute[] }).disputes;
        if (d[0]) found.push(d[0]);
      }
      return found.length === 3;
    },
    300_000,
  );
  for (const d of found) {
    assert.match(d.fact, /^audit\[0x[0-9a-f]{64}:0x[0-9a-f]{40}\]\.audited$/, 'the dispute names the audit');
    assert.equal(d.claimed, 'false');
    assert.equal(d.recomputed, 'true');
  }
  const epoch = found[0]!.epoch;
  assert.ok(
    found.every((d) => d.epoch === epoch),
    'the three validators refuse the same epoch',
  );
  // Never finalized: the epoch waits in `closing` while later epochs end, and the chain stops before it.
  await waitUntil(
    'the epoch after the disputed one to end',
    async () => (await epochs()).some((e) => e.epoch > epoch + 1),
    120_000,
  );
  assert.ok(
    Number((await getSettlementState(ctx)).lastFinalizedEpoch) < epoch,
    'the chain never finalized it',
  );
  assert.equal((await epochs()).find((e) => e.epoch === epoch)?.status, 'closing');
  await waitUntil('GET /v1/epochs to name the dispute', async () =>
    Boolean((await epochs()).find((e) => e.epoch === epoch)?.disputes.some((d) => /\.audited$/.test(d.fact))),
  );
  // No money moved: the job's charges were never collected from the client's escrow on chain.
  assert.equal((await getEscrowBalance(ctx, account.address)).balance, DEVNET_CLIENT_ESCROW);
});
