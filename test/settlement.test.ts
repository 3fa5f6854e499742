/**
 * Market and settlement end to end on a real anvil with real processes: escrow admission, a verified
 * job billed into the ledger, epochs finalized by a 2-of-3 quorum of independent `plexus validator`
 * processes (one killed, two still settle; a dishonest coordinator gets no signature), a claim paying
 * exactly the ledger's amount, a cheater slashed on chain, a coordinator SIGKILLed mid-settlement
 * (test-only hook), and a chain outage (a TCP proxy between coordinator and anvil, cut and restored).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { plexusAbis } from '../src/chain/abis.ts';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from '../src/chain/actions/getPlxBalance.ts';
import { claimRewards } from '../src/chain/actions/provider/claimRewards.ts';
import { getProvider } from '../src/chain/actions/provider/getProvider.ts';
import type { PlexusDeployment } from '../src/chain/deployPlexus.ts';
import type { AnvilInstance } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { createClient } from '../src/client/createClient.ts';
import { accounts } from '../src/coordinator/ledger/accounts.ts';
import { cumulativeEarnings } from '../src/coordinator/ledger/cumulativeEarnings.ts';
import { readBalances } from '../src/coordinator/ledger/readBalances.ts';
import { verifyLedger } from '../src/coordinator/ledger/verifyLedger.ts';
import type { SettlementStep } from '../src/coordinator/settlement/createSettlement.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { DEVNET_CLIENT_ESCROW } from '../src/devnet/fundDevnetAccounts.ts';
import { type NodeChild, PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import type { EpochList, EpochView } from '../src/protocol/http/market.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { freePort, startProxy, type TcpProxy, waitUntil } from './helpers/net.ts';
import { deploySettlementChain, trustInStore } from './helpers/settlementChain.ts';
import { spawnCrashingCoordinator } from './helpers/spawnCrashingCoordinator.ts';
import { spawnValidator } from './helpers/spawnValidator.ts';

// Each epoch is closed, checked by three validator processes and finalized on chain before the next:
// 4 s epochs outran that on a loaded 2-core machine (a backlog that grew for the whole file).
const EPOCH_SECONDS = 6;
/** Process start deadline: a coordinator restart took over a minute at load ~30. */
const START_MS = 180_000;
const run = promisify(execFile);
const quiet = createLogger('test', { level: 'silent' });
const scrypt = { n: 1024, r: 8, p: 1 };
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};

let dir: string;
let cleanup: () => Promise<void>;
let anvil: AnvilInstance;
let deployment: PlexusDeployment;
let ctx: PlexusWriter;
let proxy: TcpProxy;
let coordinator: NodeChild;
let port: number;
let url: string;
let validatorKeystores: string[];
let submitterKeystore: string;
const validators: NodeChild[] = [];
const validatorUrls: string[] = [];
const providers: NodeChild[] = [];
const addresses: Record<string, string> = {};
/** The epoch the dishonest coordinator's test saw disputed (the recovery test reopens it). */
let disputedEpoch = 0;

/** An independent validator with its own keystore and store, following the coordinator. */
const startValidator = (i: number): NodeChild =>
  spawnValidator(i, {
    keystore: validatorKeystores[i]!,
    dir,
    coordinator: url,
    url: validatorUrls[i]!,
    env,
    print,
  });

/**
 * A coordinator collecting signatures from the validators; with `crashAt`, one that kills itself
 * right after that settlement step, or with `raise-earnings` a dishonest one (test hooks).
 */
function startCoordinator(crashAt?: SettlementStep | 'raise-earnings'): NodeChild {
  const chainArgs = [
    '--deployment',
    join(dir, 'deployment.json'),
    '--rpc-url',
    `http://127.0.0.1:${proxy.port}`,
  ];
  const args = ['--port', String(port), '--data-dir', join(dir, 'coordinator'), ...chainArgs];
  args.push('--epoch-seconds', String(EPOCH_SECONDS), '--validator-url', ...validatorUrls);
  args.push('--submitter-keystore', submitterKeystore);
  return crashAt
    ? spawnCrashingCoordinator(crashAt, args, { env, print })
    : spawnPlexus('coordinator', ['coordinator', ...args], { env, print });
}

const auditArgs = () => {
  const deploymentFile = join(dir, 'deployment.json');
  return ['--coordinator', url, '--deployment', deploymentFile, '--from', '1', '--json'];
};

/** The funded devnet client's account (its keystore is written by deploySettlementChain). */
const clientAccount = () =>
  loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, { scrypt, logger: quiet });

const epochs = async (): Promise<EpochView[]> =>
  ((await (await fetch(`${url}/v1/epochs`)).json()) as EpochList).epochs;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-settlement-'));
  ({ anvil, deployment, ctx, validatorKeystores, submitterKeystore } = await deploySettlementChain(
    dir,
    EPOCH_SECONDS,
    addresses,
  ));
  proxy = await startProxy(anvil.port);
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 3; i++) validatorUrls.push(`http://127.0.0.1:${await freePort()}`);
  for (let i = 0; i < 3; i++) {
    validators.push(startValidator(i));
    await validators[i]!.waitFor('PLEXUS_VALIDATOR_READY', START_MS);
  }
  // honest-1 is trusted (genesis operator): without ground truth always-wrong is neither faulted nor slashed.
  await trustInStore(join(dir, 'coordinator', 'plexus.db'), addresses['honest-1']!);
  // The first coordinator dies (SIGKILL) right after sending the first finalize that charges a client.
  coordinator = startCoordinator('sent');
  await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
  for (const name of ['honest-1', 'honest-2', 'always-wrong']) {
    const behaviour = name === 'always-wrong' ? ['--behaviour', 'always-wrong'] : [];
    const args = ['provider', 'start', '--coordinator', url, '--data-dir', join(dir, name), ...behaviour];
    const p = spawnPlexus(name, args, { env, print });
    providers.push(p);
    await p.waitFor('PLEXUS_PROVIDER_STARTED', START_MS);
  }
});

after(async () => {
  await Promise.all(providers.map((p) => p.stop(5000)));
  await coordinator?.stop(5000);
  await Promise.all(validators.map((v) => v.stop(5000)));
  await proxy?.close();
  await anvil?.stop();
  await cleanup?.();
});

describe('market and settlement on anvil', { timeout: 1_800_000 }, () => {
  test('a client without escrow is refused with PLX_INSUFFICIENT_ESCROW', async () => {
    const poor = await loadOrCreateKeystore(join(dir, 'poor.json'), 'pw', { scrypt, logger: quiet });
    const c = createClient({ url, account: poor });
    // An account without escrow may not even upload (a free disk for anyone otherwise): the job
    // names blobs the funded client uploaded, and is refused at admission.
    await assert.rejects(c.uploadBlob(encodeSafetensors(ocrInput(1))), { code: 'PLX_BLOB_FORBIDDEN' });
    const funded = createClient({
      url,
      account: await clientAccount(),
    });
    const input = await funded.uploadBlob(encodeSafetensors(ocrInput(1)));
    const model = await funded.uploadFile(ppocrDetectionModelPath());
    await assert.rejects(
      c.submitJob({
        kind: 'onnx.infer',
        model: model.cid,
        inputs: [input.cid],
        deadline: Math.floor(Date.now() / 1000) + 300,
      }),
      (err: { code?: string; status?: number }) => err.code === 'PLX_INSUFFICIENT_ESCROW',
    );
    // A funded client whose job's worst case (1 task × 3 executions × 120 s × 4 cores × 50 PLX =
    // 72,000 PLX) exceeds its 50,000 PLX escrow is refused too, and told by how much.
    const rich = createClient({
      url,
      account: await clientAccount(),
    });
    await assert.rejects(
      rich.submitJob(
        {
          kind: 'onnx.infer',
          model: model.cid,
          inputs: [input.cid],
          deadline: Math.floor(Date.now() / 1000) + 300,
        },
        { maxPricePerUnit: 50n * 10n ** 18n },
      ),
      (err: { code?: string; details?: { available?: string; required?: string } }) =>
        err.code === 'PLX_INSUFFICIENT_ESCROW' &&
        err.details?.required === (72_000n * 10n ** 18n).toString() &&
        err.details?.available === DEVNET_CLIENT_ESCROW.toString(),
    );
  });

  test('a verified job is billed, the coordinator is killed mid-settlement, and every epoch settles exactly once', async () => {
    const account = await clientAccount();
    const c = createClient({ url, account });
    const model = await c.uploadFile(ppocrDetectionModelPath());
    const inputs = [];
    // One task: all three providers run it before its verdict. With two, the cheater faulted on the
    // first is suspended before it leases the second, which then waits for a third provider until
    // the job's deadline (failed CI once, "failed" after 300 s).
    inputs.push((await c.uploadBlob(encodeSafetensors(ocrInput(0)))).cid);
    const { jobId } = await c.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs,
      deadline: Math.floor(Date.now() / 1000) + 300,
      verification: { policy: 'redundant', k: 3 },
    });
    // The coordinator kills itself right after sending the finalize transaction of the epoch with
    // the job's charges, before recording it.
    const code = await coordinator.exited;
    assert.equal(code, null, 'the coordinator was killed by the test-only crash hook');
    coordinator = startCoordinator();
    await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
    const status = await c.waitForJob(jobId);
    assert.equal(status.status, 'completed');
    // Every epoch with charges or slashes settles.
    await waitUntil('charged and slashed epochs to settle', async () => {
      const rows = await epochs();
      const settledTasks = rows.filter((e) => e.status === 'settled').reduce((a, e) => a + e.tasksSettled, 0);
      return settledTasks >= 2 && rows.some((e) => e.status === 'settled' && BigInt(e.slashed) > 0n);
    });
    // The store marks an epoch settled after the chain finalized it: read the store first.
    const settled = (await epochs())
      .filter((e) => e.status === 'settled')
      .map((e) => e.epoch)
      .sort((a, b) => a - b);
    const state = await getSettlementState(ctx);
    // Exactly once, in order: the chain finalized 1..n and the store settled the same 1..n.
    assert.deepEqual(
      settled,
      Array.from({ length: settled.length }, (_, i) => i + 1),
    );
    assert.ok(Number(state.lastFinalizedEpoch) >= settled.at(-1)!, 'the chain finalized them');
    const store = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
    try {
      const report = await verifyLedger(store.db, ctx);
      assert.deepEqual(report.problems, []);
      assert.ok(report.settledEpochs >= settled.length, 'report.settledEpochs >= settled.length');
      // One charge entry per paid execution: nothing doubled by the crash.
      const charges = await store.db
        .selectFrom('ledger_entries')
        .select('ref')
        .where('kind', '=', 'charge')
        .execute();
      assert.equal(new Set(charges.map((r) => r.ref)).size, charges.length);
    } finally {
      await store.close();
    }
    // The operator's command says the same, against the chain, and exits 0.
    const out = await run(process.execPath, [
      PLEXUS_BIN,
      'ledger',
      'verify',
      '--data-dir',
      join(dir, 'coordinator'),
      '--deployment',
      join(dir, 'deployment.json'),
    ]);
    assert.match(out.stdout, /checked against the chain/);
    assert.match(out.stdout, /the books balance and agree/);
  });

  test("a provider's claim pays exactly the ledger's amount; escrow and stakes equal the ledger", async () => {
    const store = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
    try {
      const honest = addresses['honest-1'] as `0x${string}`;
      const r = (await (await fetch(`${url}/v1/rewards/${honest}`)).json()) as {
        epoch: number;
        cumulativeAmount: string;
        claimed: string;
        proof: `0x${string}`[];
      };
      const before = await getPlxBalance(ctx, honest);
      await claimRewards(ctx, {
        account: honest,
        cumulativeAmount: BigInt(r.cumulativeAmount),
        proof: r.proof,
      }).catch(async () => {
        // A new epoch finalized in between: the proof must come from the new root.
        const again = (await (await fetch(`${url}/v1/rewards/${honest}`)).json()) as typeof r;
        Object.assign(r, again);
        return claimRewards(ctx, {
          account: honest,
          cumulativeAmount: BigInt(again.cumulativeAmount),
          proof: again.proof,
        });
      });
      const received = (await getPlxBalance(ctx, honest)) - before;
      const ledger = (await cumulativeEarnings(store.db, r.epoch)).get(honest) ?? 0n;
      assert.equal(received, ledger - BigInt(r.claimed));
      assert.ok(received > 0n, 'received > 0n');
      // The client's escrow on chain is its deposit minus what the ledger collected.
      const lastSettled = r.epoch;
      const collected = await store.db
        .selectFrom('ledger_postings as p')
        .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
        .select('p.amount')
        .where('e.kind', '=', 'settle-charges')
        .where('e.epoch', '<=', lastSettled)
        .where('p.account', '=', accounts.clientUnsettled(addresses.client!))
        .execute();
      const total = collected.reduce((a, x) => a - BigInt(x.amount), 0n);
      assert.ok(total > 0n, 'total > 0n');
      assert.equal(
        (await getEscrowBalance(ctx, addresses.client as `0x${string}`)).balance,
        DEVNET_CLIENT_ESCROW - total,
      );
      // The cheater was slashed on chain by exactly what the ledger says.
      const slashed = -(
        (
          await readBalances(store.db, {
            account: accounts.providerSlashed(addresses['always-wrong']!),
            maxEpoch: lastSettled,
          })
        ).get(accounts.providerSlashed(addresses['always-wrong']!)) ?? 0n
      );
      assert.ok(slashed > 0n, 'slashed > 0n');
      const cheater = await getProvider(ctx, addresses['always-wrong'] as `0x${string}`);
      assert.equal(cheater.stake + cheater.unbonding, deployment.minStake - slashed);
      // The API shows the stake the chain holds (re-read every 10 s) and the ledger's earnings.
      await waitUntil(
        'the API to show the slashed stake',
        async () => {
          const list = (
            (await (await fetch(`${url}/v1/providers`)).json()) as {
              providers: { address: string; stake: string | null }[];
            }
          ).providers;
          return (
            list.find((p) => p.address === addresses['always-wrong'])?.stake === cheater.stake.toString()
          );
        },
        30_000,
      );
    } finally {
      await store.close();
    }
  });

  for (const step of ['closing', 'signed', 'submitted'] as const) {
    test(`a coordinator killed right after the '${step}' step settles that epoch exactly once after a restart`, async () => {
      await coordinator.stop(5000);
      coordinator = startCoordinator(step);
      await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
      const account = await clientAccount();
      const c = createClient({ url, account });
      const model = await c.uploadFile(ppocrDetectionModelPath());
      const input = (await c.uploadBlob(encodeSafetensors(ocrInput(step.length)))).cid;
      const { jobId } = await c.submitJob({
        kind: 'onnx.infer',
        model: model.cid,
        inputs: [input],
        deadline: Math.floor(Date.now() / 1000) + 300,
        verification: { policy: 'none' },
      });
      // The hook fires only once the job's charge is in a closed epoch, so the job is done by then.
      assert.equal(await coordinator.exited, null, 'killed by the test-only hook');
      coordinator = startCoordinator();
      await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
      assert.equal((await c.waitForJob(jobId)).status, 'completed');
      const store = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
      try {
        const jobEpoch = Number(
          (
            await store.db
              .selectFrom('ledger_entries')
              .select('epoch')
              .where('job_id', '=', jobId)
              .executeTakeFirstOrThrow()
          ).epoch,
        );
        await waitUntil(`epoch ${jobEpoch} to settle`, async () =>
          (await epochs()).some((e) => e.epoch === jobEpoch && e.status === 'settled'),
        );
        const settled = (await epochs()).filter((e) => e.status === 'settled').map((e) => e.epoch);
        const state = await getSettlementState(ctx);
        assert.ok(Number(state.lastFinalizedEpoch) >= Math.max(...settled), 'the chain finalized them');
        assert.deepEqual((await verifyLedger(store.db, ctx)).problems, []);
        // The slashed provider fell below minStake: it is no longer active on chain and gets no work.
        const leased = await store.db
          .selectFrom('assignments')
          .select('provider')
          .where('job_id', '=', jobId)
          .execute();
        assert.ok(leased.length > 0, 'leased.length > 0');
        for (const a of leased) assert.notEqual(a.provider, addresses['always-wrong']);
      } finally {
        await store.close();
      }
    });
  }

  test('while the chain is unreachable epochs queue, and they settle in order when it returns', async () => {
    await proxy.cut();
    const cutAt = Date.now();
    const lastBefore = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
    await new Promise((r) => setTimeout(r, 3 * EPOCH_SECONDS * 1000));
    assert.equal(
      Number((await getSettlementState(ctx)).lastFinalizedEpoch),
      lastBefore,
      'nothing settles during the outage',
    );
    const queued = (await epochs()).filter((e) => e.status !== 'settled' && e.epoch > lastBefore);
    assert.ok(queued.length >= 2, 'epochs that ended during the outage wait');
    await proxy.restore();
    const target = Math.floor((Date.now() - cutAt) / (EPOCH_SECONDS * 1000)) + lastBefore;
    await waitUntil(
      'queued epochs to settle',
      async () => Number((await getSettlementState(ctx)).lastFinalizedEpoch) >= target,
    );
    const rows = (await epochs()).filter((e) => e.status === 'settled').sort((a, b) => a.epoch - b.epoch);
    const blocks = [];
    for (const e of rows) {
      const receipt = await ctx.publicClient.getTransactionReceipt({ hash: e.txHash as `0x${string}` });
      blocks.push(receipt.blockNumber);
    }
    for (let i = 1; i < blocks.length; i++)
      assert.ok(blocks[i]! > blocks[i - 1]!, 'finalized in epoch order');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const last = /^plexus_last_settled_epoch (\d+)/m.exec(metrics)?.[1];
    assert.ok(Number(last) >= target, 'the last settled epoch is exported to Prometheus');
  });
  test('independent validators agree on every epoch; with one killed, 2 of 3 still settle; restarted, it catches up', async () => {
    type Dispute = { epoch: number; fact: string };
    const disputes = async (v: string) =>
      ((await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: Dispute[] }).disputes;
    for (const v of validatorUrls) assert.deepEqual(await disputes(v), [], 'zero disputes in an honest run');
    // What the chain stored is the hash of the evidence the coordinator serves, and each validator signed it.
    const last = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
    const res = await fetch(`${url}/v1/epochs/${last}/evidence`);
    const body = Buffer.from(await res.arrayBuffer());
    const hash = `0x${createHash('sha256').update(body).digest('hex')}`;
    assert.equal(res.headers.get('x-plexus-evidence-hash'), hash);
    const onChain = await ctx.publicClient.readContract({
      address: deployment.settlement,
      abi: plexusAbis.settlement,
      functionName: 'evidenceHashOf',
      args: [BigInt(last)],
    });
    assert.equal(onChain, hash);
    // Resumable: a range gives the tail of the same bytes.
    const tail = await fetch(`${url}/v1/epochs/${last}/evidence`, { headers: { range: 'bytes=10-' } });
    assert.equal(tail.status, 206);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), body.subarray(10));
    const signed = await Promise.all(
      validatorUrls.map(async (v) => (await fetch(`${v}/v1/epochs/${last}/signature`)).status),
    );
    assert.ok(signed.filter((c) => c === 200).length >= 2, 'a quorum of validators signed the last epoch');
    const claim = (await (await fetch(`${url}/v1/epochs/${last}/claim`)).json()) as { signatures: unknown[] };
    assert.ok(claim.signatures.length >= 2, 'the quorum is public: anyone may submit it');

    const killed = validators[2]!;
    killed.proc.kill('SIGKILL');
    await killed.exited;
    const before = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
    await waitUntil(
      'two more epochs to settle with 2 of 3 validators',
      async () => Number((await getSettlementState(ctx)).lastFinalizedEpoch) >= before + 2,
    );
    validators[2] = startValidator(2);
    await validators[2].waitFor('PLEXUS_VALIDATOR_READY', START_MS);
    const target = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
    await waitUntil('the restarted validator to catch up from its store', async () => {
      const m = await (await fetch(`${validatorUrls[2]}/metrics`)).text();
      return Number(/^plexus_validator_last_epoch (\d+)/m.exec(m)?.[1]) >= target;
    });
    assert.deepEqual(await disputes(validatorUrls[2]!), []);
    // Anyone can replay the whole history read-only and check it against the chain.
    const audit = await run(process.execPath, [PLEXUS_BIN, 'validator', 'audit', ...auditArgs()]);
    const report = JSON.parse(audit.stdout) as { epochs: { finalized: boolean }[]; problems: number };
    assert.equal(report.problems, 0);
    assert.ok(report.epochs.filter((e) => e.finalized).length >= target, 'every epoch replayed');
  });

  test('a dishonest coordinator (one provider +1 base unit) gets no signature; the dispute names the fact', async () => {
    await coordinator.stop(5000);
    coordinator = startCoordinator('raise-earnings');
    await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
    type Dispute = { epoch: number; fact: string; claimed: string; recomputed: string };
    const found: Dispute[] = [];
    await waitUntil('every validator to dispute the inflated epoch', async () => {
      found.length = 0;
      for (const v of validatorUrls) {
        const d = ((await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: Dispute[] }).disputes;
        if (d[0]) found.push(d[0]);
      }
      return found.length === 3;
    });
    for (const d of found) {
      // The books agree with themselves; the signed facts do not add up to them.
      assert.match(
        d.fact,
        /^balance\[provider:0x[0-9a-f]{40}:earnings\]$/,
        'the dispute names the provider whose earnings differ',
      );
      assert.equal(BigInt(d.recomputed) - BigInt(d.claimed), 1n);
    }
    const epoch = found[0]!.epoch;
    // Not finalized: no signature counts, the epoch waits in `closing` while later epochs end.
    await waitUntil('the epoch after the disputed one to end', async () =>
      (await epochs()).some((e) =>
        e.epoch === epoch + 1 && e.status !== 'open' ? true : e.epoch > epoch + 1,
      ),
    );
    assert.ok(
      Number((await getSettlementState(ctx)).lastFinalizedEpoch) < epoch,
      'the chain never finalized it',
    );
    const listed = (await epochs()).find((e) => e.epoch === epoch);
    assert.equal(listed?.status, 'closing');
    // The explorer's source: which validators refuse the epoch the coordinator waits on, and the fact
    // (learned at the coordinator's next collection of signatures).
    await waitUntil('GET /v1/epochs to name the dispute', async () => {
      const waiting = Number((await getSettlementState(ctx)).lastFinalizedEpoch) + 1;
      const stuck = (await epochs()).find((e) => e.epoch === waiting);
      return !!stuck?.disputes.some((d) => /^balance\[provider:0x[0-9a-f]{40}:earnings\]$/.test(d.fact));
    });
    const m = await (await fetch(`${validatorUrls[0]}/metrics`)).text();
    assert.match(m, /^plexus_validator_disputes_total [1-9]/m);
    // The auditor finds it too, and exits 1.
    const audit = await run(process.execPath, [PLEXUS_BIN, 'validator', 'audit', ...auditArgs()]).then(
      () => assert.fail('the audit of a dishonest history must fail'),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(audit.code, 1);
    assert.match(audit.stdout, /balance\[provider:0x[0-9a-f]{40}:earnings\]/);
    disputedEpoch = epoch;
  });

  test('once the coordinator is fixed and the disputed epochs reopened, they close again, validators sign, the chain finalizes', async () => {
    const epoch = disputedEpoch;
    assert.ok(epoch > 0, 'runs after the dishonest coordinator test');
    const hashOf = async (e: number) => (await epochs()).find((x) => x.epoch === e)?.evidenceHash;
    const oldHash = await hashOf(epoch);
    await coordinator.stop(5000);
    const cli = (...args: string[]) => run(process.execPath, [PLEXUS_BIN, ...args]);
    const coordinatorDir = join(dir, 'coordinator');
    // From the first epoch the chain has not finalized: every later one the dishonest coordinator
    // closed (the dispute seen above may be a later one of them).
    const from = Number((await getSettlementState(ctx)).lastFinalizedEpoch) + 1;
    const args = ['--data-dir', coordinatorDir, '--from', String(from), '--json'];
    const reopened = JSON.parse((await cli('ledger', 'reopen', ...args)).stdout) as { reopened: number[] };
    assert.ok(reopened.reopened.includes(epoch), 'the disputed epoch is reopened');
    coordinator = startCoordinator();
    await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
    await waitUntil(
      'the reopened epoch and the one after it to finalize on chain',
      async () => Number((await getSettlementState(ctx)).lastFinalizedEpoch) >= epoch + 1,
    );
    const newHash = await hashOf(epoch);
    assert.notEqual(newHash, oldHash, 'the disputed bundle was replaced, not signed');
    assert.equal(
      await ctx.publicClient.readContract({
        address: deployment.settlement,
        abi: plexusAbis.settlement,
        functionName: 'evidenceHashOf',
        args: [BigInt(epoch)],
      }),
      newHash,
      'the chain holds the new bundle',
    );
    assert.ok(((await epochs()).find((e) => e.epoch === epoch)?.signers.length ?? 0) >= 2, 'signers listed');
    for (const v of validatorUrls) {
      await waitUntil(`${v} to sign the new bundle`, async () => {
        const sig = await (await fetch(`${v}/v1/epochs/${epoch}/signature`)).json();
        return (sig as { evidenceHash?: string }).evidenceHash === newHash;
      });
      const d = (await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: { epoch: number }[] };
      assert.ok(
        d.disputes.some((x) => x.epoch === epoch),
        `${v} keeps the dispute of the replaced bundle`,
      );
    }
    // The whole history now replays clean, and the books agree with the chain.
    const audit = await cli('validator', 'audit', ...auditArgs());
    assert.equal((JSON.parse(audit.stdout) as { problems: number }).problems, 0);
    const deploymentFile = join(dir, 'deployment.json');
    const verify = await cli(
      'ledger',
      'verify',
      '--data-dir',
      coordinatorDir,
      '--deployment',
      deploymentFile,
      '--json',
    );
    assert.deepEqual((JSON.parse(verify.stdout) as { problems: unknown[] }).problems, []);
  });
});
