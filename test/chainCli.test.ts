/**
 * The on-chain CLI commands as a participant runs them: a real anvil with the Plexus contracts,
 * and `plexus provider …` / `plexus client …` as separate processes, signing with their encrypted
 * keystores. The rewards proof comes from a small real HTTP server standing in for the
 * coordinator's `GET /v1/rewards/:address` and `GET /v1/chain` (the coordinator side is built
 * separately); the epochs it serves proofs for are finalized on chain here with validator
 * signatures, so the claims are real.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  keccak256,
  toHex,
  zeroHash,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { finalizeEpoch } from '../src/chain/actions/coordinator/finalizeEpoch.ts';
import { getClaimed } from '../src/chain/actions/coordinator/getClaimed.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from '../src/chain/actions/getPlxBalance.ts';
import { getProvider } from '../src/chain/actions/provider/getProvider.ts';
import { transferPlx } from '../src/chain/actions/transferPlx.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus, type PlexusDeployment } from '../src/chain/deployPlexus.ts';
import { signEpoch } from '../src/chain/epoch/signEpoch.ts';
import { buildRewardsTree } from '../src/chain/merkle/buildRewardsTree.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import type { EpochPayload, PlexusReader, PlexusWriter } from '../src/chain/types.ts';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { capabilitiesDigest } from '../src/protocol/capabilities.ts';
import { hardwareClaim } from '../src/provider/hardware/hardwareClaim.ts';
import { probeHardware } from '../src/provider/hardware/probeHardware.ts';
import { tempDir } from './helpers/fixtures.ts';

const run = promisify(execFile);
const PASSWORD = 'chain cli test passphrase';
const FAST_SCRYPT = { n: 1024, r: 8, p: 1 };
const EPOCH = 20n;
const WITHDRAWAL_DELAY = 40n;
const UNBONDING = 60n;

let anvil: AnvilInstance;
let deployment: PlexusDeployment;
let treasury: PlexusWriter;
let reader: PlexusReader;
let testClient: ReturnType<typeof createTestClient>;
let dir: string;
let cleanup: () => Promise<void>;
let deploymentFile: string;
let server: Server;
let coordinatorUrl: string;
let provider: Address;
let client: Address;
const validators = [1, 2, 3].map((i) => privateKeyToAccount(keccak256(toHex(`chain cli validator ${i}`))));
/** What the stand-in coordinator answers at GET /v1/rewards/:address, by lower-case address. */
const proofs = new Map<string, unknown>();

type Result = { code: number; stdout: string; stderr: string };

/** Runs `plexus …` with the test's keystore password; never rejects, returns the exit code. */
async function plexus(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, [PLEXUS_BIN, ...args], {
      env: { ...process.env, PLEXUS_KEYSTORE_PASSWORD: PASSWORD, PLEXUS_LOG_LEVEL: 'warn', ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs a command with `--json` that must succeed, and returns its JSON. */
async function ok(args: string[]): Promise<Record<string, unknown>> {
  const r = await plexus([...args, '--json']);
  assert.equal(r.code, 0, `plexus ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

/** Runs a command with `--json` that must fail, and returns the error object it printed on stderr. */
async function fails(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: string; message: string; details?: { errorName?: string; args?: string[] } }> {
  const r = await plexus([...args, '--json'], env);
  assert.ok(
    r.code === 1 || r.code === 2,
    `plexus ${args.join(' ')} should fail; stdout: ${r.stdout} stderr: ${r.stderr}`,
  );
  const line = r.stderr
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('{"error"'));
  assert.ok(line, `no JSON error on stderr: ${r.stderr}`);
  const error = (JSON.parse(line) as { error: { code: string } }).error;
  // Exit code 2 is a wrong command line (PLX_USAGE), 1 any other failure.
  assert.equal(r.code, error.code === 'PLX_USAGE' ? 2 : 1, `exit code of ${error.code}`);
  return error as never;
}

const providerArgs = () => ['--data-dir', join(dir, 'provider'), '--deployment', deploymentFile];
const clientArgs = () => ['--keystore', join(dir, 'client', 'key.json'), '--deployment', deploymentFile];

async function advance(seconds: bigint) {
  await testClient.increaseTime({ seconds: Number(seconds) });
  await testClient.mine({ blocks: 1 });
}

async function settle(
  epoch: bigint,
  entries: { account: Address; cumulativeAmount: bigint }[],
  emission: bigint,
) {
  const rewards = buildRewardsTree(entries);
  const payload: EpochPayload = {
    epoch,
    rewardsRoot: rewards.root,
    totalEarned: rewards.totalEarned,
    charges: [],
    slashes: [],
    emission,
    evidenceHash: zeroHash,
  };
  const end = (await getSettlementState(reader)).genesisTime + deployment.epochDuration * epoch;
  const now = (await reader.publicClient.getBlock()).timestamp;
  if (end > now) await advance(end - now);
  const target = { chainId: anvil.chain.id, settlement: deployment.settlement };
  // 2 of 3 validators sign, as the devnet's quorum does.
  const signatures = await Promise.all(validators.slice(0, 2).map((v) => signEpoch(v, target, payload)));
  await finalizeEpoch(treasury, payload, signatures);
  return rewards;
}

function serveProof(epoch: number, rewards: ReturnType<typeof buildRewardsTree>, account: Address) {
  const claim = rewards.claimFor(account)!;
  proofs.set(account.toLowerCase(), {
    address: claim.account,
    epoch,
    cumulativeAmount: claim.cumulativeAmount.toString(),
    claimed: '0', // a coordinator's view may lag; the CLI reads what was claimed from the chain
    proof: claim.proof,
    rewardsRoot: rewards.root,
  });
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-chain-cli-'));
  anvil = await startAnvil({ accounts: 1 });
  const transport = http(anvil.rpcUrl);
  testClient = createTestClient({ chain: anvil.chain, mode: 'anvil', transport });
  deployment = await deployPlexus({
    publicClient: createPublicClient({ chain: anvil.chain, transport }),
    walletClient: createWalletClient({
      account: privateKeyToAccount(anvil.privateKeys[0]!),
      chain: anvil.chain,
      transport,
    }),
    validators: validators.map((v) => v.address),
    threshold: 2,
    minStake: 1_000n * PLX,
    epochDuration: EPOCH,
    withdrawalDelay: WITHDRAWAL_DELAY,
    unbondingPeriod: UNBONDING,
  });
  deploymentFile = join(dir, 'deployment.json');
  // The same file the devnet writes.
  await writeFile(
    deploymentFile,
    JSON.stringify({ rpcUrl: anvil.rpcUrl, ...deployment }, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
  );
  treasury = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment },
    anvil.privateKeys[0]!,
  );
  reader = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment });
  const [providerKey, clientKey] = await Promise.all(
    ['provider', 'client'].map((who) =>
      createKeystore(join(dir, who, 'key.json'), PASSWORD, { scrypt: FAST_SCRYPT }),
    ),
  );
  provider = providerKey!.address;
  client = clientKey!.address;
  for (const a of [provider, client]) await testClient.setBalance({ address: a, value: 10n ** 19n });
  await transferPlx(treasury, provider, 5_000n * PLX);
  await transferPlx(treasury, client, 10_000n * PLX);

  server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/v1/chain')
      return send(200, {
        chainId: anvil.chain.id,
        rpcUrl: anvil.rpcUrl,
        token: deployment.token,
        registry: deployment.registry,
        escrow: deployment.escrow,
        settlement: deployment.settlement,
        epochDuration: Number(deployment.epochDuration),
      });
    const m = /^\/v1\/rewards\/(0x[0-9a-fA-F]{40})$/.exec(req.url ?? '');
    const proof = m ? proofs.get(m[1]!.toLowerCase()) : undefined;
    if (proof) return send(200, proof);
    send(404, { error: { code: 'PLX_NOT_FOUND', message: 'no earnings in any settled epoch' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  coordinatorUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await anvil?.stop();
  await cleanup?.();
});

describe('plexus provider on chain', () => {
  test('register bonds the stake with the region, the hardware digest and the default URI', async () => {
    // The probe runs here while the CLI registers (both take a while on a busy machine).
    const probed = probeHardware();
    const out = await ok([
      'provider',
      'register',
      '--stake',
      '1500',
      '--region',
      'eu-west',
      '--coordinator',
      coordinatorUrl,
      ...providerArgs(),
    ]);
    assert.equal(out.address, provider);
    assert.equal(out.stake, (1_500n * PLX).toString());
    const rec = await getProvider(reader, provider);
    assert.equal(rec.active, true);
    assert.equal(rec.stake, 1_500n * PLX);
    assert.equal(rec.region, 'eu-west');
    assert.equal(rec.uri, `${coordinatorUrl}/v1/providers/${provider}/history`);
    // The same digest the agent's hardware claim hashes to on this machine.
    assert.equal(rec.capabilitiesDigest, capabilitiesDigest(hardwareClaim(await probed, { useGpu: true })));
  });

  test('stake adds an exact decimal amount', async () => {
    const out = await ok(['provider', 'stake', '0.5', ...providerArgs()]);
    assert.equal(out.stake, '1500500000000000000000');
    assert.equal((await getProvider(reader, provider)).stake, 1_500n * PLX + PLX / 2n);
  });

  test('unbond, withdraw too early (decoded revert), withdraw after the period', async () => {
    const out = await ok(['provider', 'unbond', '500.5', ...providerArgs()]);
    assert.equal(out.unbonding, (500n * PLX + PLX / 2n).toString());
    assert.equal(out.stake, (1_000n * PLX).toString());
    assert.equal(
      (await getProvider(reader, provider)).active,
      false,
      'an unbonding provider takes no new work',
    );
    // The stake left is the minimum, yet the CLI says it stops work (issue 22, item 10).
    assert.equal(out.active, false, 'the CLI says what the registry says');

    const early = await fails(['provider', 'unbond', '--withdraw', ...providerArgs()]);
    assert.equal(early.code, 'PLX_CHAIN_REVERT');
    assert.equal(early.details?.errorName, 'UnbondingNotReady');
    assert.equal(early.details?.args?.[0], String(out.unbondingReadyAt));

    await advance(UNBONDING);
    const before = await getPlxBalance(reader, provider);
    const done = await ok(['provider', 'unbond', '--withdraw', ...providerArgs()]);
    assert.equal(done.withdrawn, (500n * PLX + PLX / 2n).toString());
    assert.equal(await getPlxBalance(reader, provider), before + 500n * PLX + PLX / 2n);
    const rec = await getProvider(reader, provider);
    assert.equal(rec.stake, 1_000n * PLX);
    assert.equal(rec.active, true);
  });

  test('status shows the record for people', async () => {
    const r = await plexus(['provider', 'status', ...providerArgs()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stake\s+1000 PLX \(minimum 1000 PLX\)/);
    assert.match(r.stdout, /region\s+eu-west/);
  });
});

describe('plexus client on chain', () => {
  test('deposit approves and deposits; the chain can come from the coordinator instead of a file', async () => {
    const out = await ok([
      'client',
      'deposit',
      '2500',
      '--keystore',
      join(dir, 'client', 'key.json'),
      '--coordinator',
      coordinatorUrl,
    ]);
    assert.equal(out.escrow, (2_500n * PLX).toString());
    const permit = await ok(['client', 'deposit', '0.25', '--permit', ...clientArgs()]);
    assert.equal(permit.escrow, (2_500n * PLX + PLX / 4n).toString());
    assert.equal((await getEscrowBalance(reader, client)).balance, 2_500n * PLX + PLX / 4n);
  });

  test('balance shows escrow and wallet, for people and as JSON', async () => {
    // Both read only: run side by side.
    const [out, other] = await Promise.all([
      ok(['client', 'balance', ...clientArgs()]),
      // Any address, without a keystore (a wrong password would fail if one were opened).
      plexus(['client', 'balance', '--address', client, '--deployment', deploymentFile], {
        PLEXUS_KEYSTORE_PASSWORD: 'not the password',
      }),
    ]);
    assert.equal(out.escrow, (2_500n * PLX + PLX / 4n).toString());
    assert.equal(out.wallet, (7_500n * PLX - PLX / 4n).toString());
    assert.equal(out.pendingWithdrawal, null);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /escrow\s+2500\.25 PLX/);
    assert.match(other.stdout, /wallet\s+7499\.75 PLX/);
  });

  test('withdraw: request, execute too early (decoded revert), execute after the delay', async () => {
    const req = await ok(['client', 'withdraw', '1000', ...clientArgs()]);
    assert.equal(req.withdrawalDelay, WITHDRAWAL_DELAY.toString());
    const pending = (await getEscrowBalance(reader, client)).pendingWithdrawal;
    assert.equal(pending?.amount, 1_000n * PLX);
    assert.equal(req.readyAt, pending?.readyAt.toString());

    const early = await fails(['client', 'withdraw', '--execute', ...clientArgs()]);
    assert.equal(early.details?.errorName, 'WithdrawalNotReady');

    await advance(WITHDRAWAL_DELAY);
    const done = await ok(['client', 'withdraw', '--execute', ...clientArgs()]);
    assert.equal(done.withdrawn, (1_000n * PLX).toString());
    assert.equal(done.escrow, (1_500n * PLX + PLX / 4n).toString());
    assert.equal(await getPlxBalance(reader, client), 8_500n * PLX - PLX / 4n);
  });
});

describe('errors', () => {
  test('bad input is PLX_USAGE (exit 2); reverts carry the decoded reason; a wrong password is refused', async () => {
    const [badDecimals, tooPrecise, negative, bothFlags, noAmount, badRegion] = await Promise.all([
      fails(['client', 'deposit', '1.2.3', ...clientArgs()]),
      fails(['client', 'deposit', '0.0000000000000000001', ...clientArgs()]),
      fails(['provider', 'stake', '-5', ...providerArgs()]),
      fails(['client', 'withdraw', '--execute', '--cancel', ...clientArgs()]),
      fails(['provider', 'unbond', ...providerArgs()]),
      fails(['provider', 'register', '--stake', '1000', '--region', 'two words', ...providerArgs()]),
    ]);
    for (const e of [badDecimals, tooPrecise, negative, bothFlags, noAmount])
      assert.equal(e.code, 'PLX_USAGE', e.message);
    assert.equal(badRegion.code, 'PLX_VALIDATION', badRegion.message);
    assert.match(badDecimals.message, /decimal notation with at most 18 decimals/);
    assert.match(badRegion.message, /region code/);

    // Every one of these fails before sending anything (a revert is found by simulating), so
    // they run side by side; so does the same withdrawal without --json.
    const [overdraw, overUnbond, overDeposit, wrongPassword, deadRpc, text] = await Promise.all([
      fails(['client', 'withdraw', '99999', ...clientArgs()]),
      fails(['provider', 'unbond', '999999', ...providerArgs()]),
      fails(['client', 'deposit', '1000000', ...clientArgs()]),
      fails(['provider', 'stake', '1', ...providerArgs()], { PLEXUS_KEYSTORE_PASSWORD: 'wrong' }),
      fails(['client', 'balance', ...clientArgs(), '--rpc-url', 'http://127.0.0.1:9']),
      plexus(['client', 'withdraw', '99999', ...clientArgs()]),
    ]);
    assert.equal(overdraw.code, 'PLX_CHAIN_REVERT');
    assert.equal(overdraw.details?.errorName, 'InsufficientEscrowBalance');
    assert.deepEqual(overdraw.details?.args, [
      client,
      (1_500n * PLX + PLX / 4n).toString(),
      (99_999n * PLX).toString(),
    ]);
    assert.equal(overUnbond.details?.errorName, 'InsufficientStake');
    assert.deepEqual(overUnbond.details?.args, [(1_000n * PLX).toString(), (999_999n * PLX).toString()]);
    assert.equal(overDeposit.details?.errorName, 'ERC20InsufficientBalance');
    assert.equal(overDeposit.details?.args?.[0], client);
    assert.equal(wrongPassword.code, 'PLX_KEYSTORE_PASSWORD');
    assert.equal(deadRpc.code, 'PLX_UPSTREAM_UNAVAILABLE');

    // Without --json the reason is readable too: amounts in PLX and the next step.
    assert.equal(text.code, 1);
    assert.match(
      text.stderr,
      /error PLX_CHAIN_REVERT: requestWithdrawal reverted: the escrow holds 1500\.25 PLX but 99999 PLX is needed/,
    );
    // Nothing moved.
    assert.equal((await getEscrowBalance(reader, client)).balance, 1_500n * PLX + PLX / 4n);
    assert.equal((await getProvider(reader, provider)).stake, 1_000n * PLX);
  });
});

describe('rewards and claims against epochs finalized on chain', () => {
  const others = [1, 2].map((i) => privateKeyToAccount(keccak256(toHex(`other earner ${i}`))).address);
  const withCoordinator = () => [...providerArgs(), '--coordinator', coordinatorUrl];

  test('an address with no earnings yet: rewards says so, claim is PLX_NOT_FOUND', async () => {
    const [r, e] = await Promise.all([
      plexus(['provider', 'rewards', ...withCoordinator()]),
      fails(['provider', 'claim', ...withCoordinator()]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no earnings in any settled epoch yet/);
    assert.equal(e.code, 'PLX_NOT_FOUND');
  });

  test('rewards shows the claimable amount; claim pays it exactly; a second claim has nothing to claim', async () => {
    const earned = 123n * PLX + 456n * 10n ** 15n; // 123.456 PLX
    const entries = [
      { account: provider, cumulativeAmount: earned },
      { account: others[0]!, cumulativeAmount: 7n * PLX },
      { account: others[1]!, cumulativeAmount: 9n * PLX },
    ];
    const rewards = await settle(1n, entries, earned + 16n * PLX);
    serveProof(1, rewards, provider);

    const [view, human] = await Promise.all([
      ok(['provider', 'rewards', ...withCoordinator()]),
      plexus(['provider', 'rewards', ...withCoordinator()]),
    ]);
    assert.deepEqual(
      {
        epoch: view.epoch,
        cumulativeAmount: view.cumulativeAmount,
        claimable: view.claimable,
        proofValid: view.proofValid,
      },
      { epoch: 1, cumulativeAmount: earned.toString(), claimable: earned.toString(), proofValid: true },
    );
    assert.match(human.stdout, /claimable\s+123\.456 PLX/);

    const before = await getPlxBalance(reader, provider);
    const claim = await ok(['provider', 'claim', ...withCoordinator()]);
    assert.equal(claim.received, earned.toString());
    assert.equal(await getPlxBalance(reader, provider), before + earned);
    assert.equal(await getClaimed(reader, provider), earned);

    // A second claim fails in simulation (nothing is sent), so the view runs beside it.
    const [again, after] = await Promise.all([
      fails(['provider', 'claim', ...withCoordinator()]),
      ok(['provider', 'rewards', ...withCoordinator()]),
    ]);
    assert.equal(again.details?.errorName, 'NothingToClaim');
    assert.equal(after.claimable, '0');
  });

  test('the next epoch pays only the difference; a proof for an older root is refused', async () => {
    const earned = 133n * PLX + 456n * 10n ** 15n; // 10 PLX more than epoch 1
    const rewards = await settle(
      2n,
      [
        { account: provider, cumulativeAmount: earned },
        { account: others[0]!, cumulativeAmount: 7n * PLX },
        { account: others[1]!, cumulativeAmount: 9n * PLX },
      ],
      10n * PLX,
    );
    // A coordinator that has not caught up still serves epoch 1's proof.
    const [lagging, refused] = await Promise.all([
      ok(['provider', 'rewards', ...withCoordinator()]),
      fails(['provider', 'claim', ...withCoordinator()]),
    ]);
    assert.equal(lagging.proofValid, false);
    assert.equal(refused.details?.errorName, 'InvalidProof');

    serveProof(2, rewards, provider);
    const view = await ok(['provider', 'rewards', ...withCoordinator()]);
    assert.equal(view.claimable, (10n * PLX).toString());
    assert.equal(view.proofValid, true);
    const before = await getPlxBalance(reader, provider);
    const claim = await ok(['provider', 'claim', ...withCoordinator()]);
    assert.equal(claim.received, (10n * PLX).toString());
    assert.equal(await getPlxBalance(reader, provider), before + 10n * PLX);
  });
});
