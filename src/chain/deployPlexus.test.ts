import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  toHex,
  zeroHash,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { plexusAbis } from './abis.ts';
import { addValidator } from './actions/admin/addValidator.ts';
import { removeValidator } from './actions/admin/removeValidator.ts';
import { setThreshold } from './actions/admin/setThreshold.ts';
import { cancelWithdrawal } from './actions/client/cancelWithdrawal.ts';
import { deposit } from './actions/client/deposit.ts';
import { depositWithPermit } from './actions/client/depositWithPermit.ts';
import { executeWithdrawal } from './actions/client/executeWithdrawal.ts';
import { getEscrowBalance } from './actions/client/getEscrowBalance.ts';
import { requestWithdrawal } from './actions/client/requestWithdrawal.ts';
import { finalizeEpoch } from './actions/coordinator/finalizeEpoch.ts';
import { getClaimed } from './actions/coordinator/getClaimed.ts';
import { getSettlementState } from './actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from './actions/getPlxBalance.ts';
import { addStake } from './actions/provider/addStake.ts';
import { cancelUnbonding } from './actions/provider/cancelUnbonding.ts';
import { claimRewards } from './actions/provider/claimRewards.ts';
import { getProvider } from './actions/provider/getProvider.ts';
import { registerProvider } from './actions/provider/registerProvider.ts';
import { requestUnbonding } from './actions/provider/requestUnbonding.ts';
import { updateProviderMetadata } from './actions/provider/updateProviderMetadata.ts';
import { withdrawUnbonded } from './actions/provider/withdrawUnbonded.ts';
import { transferPlx } from './actions/transferPlx.ts';
import { ChainRevertError } from './ChainRevertError.ts';
import { connectPlexus } from './connectPlexus.ts';
import { GENESIS_SUPPLY, PLX } from './constants.ts';
import { deployPlexus, type PlexusDeployment } from './deployPlexus.ts';
import { hashEpoch } from './epoch/epochTypedData.ts';
import { signEpoch } from './epoch/signEpoch.ts';
import { buildRewardsTree } from './merkle/buildRewardsTree.ts';
import { type AnvilInstance, startAnvil } from './startAnvil.ts';
import type { EpochPayload, PlexusWriter } from './types.ts';

const EPOCH = 60n;

describe('Plexus contracts on anvil', () => {
  let anvil: AnvilInstance;
  let deployment: PlexusDeployment;
  let publicClient: ReturnType<typeof createPublicClient>;
  let testClient: ReturnType<typeof createTestClient>;
  const ctxOf = (key: Hex): PlexusWriter =>
    connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, key);
  let admin: PlexusWriter;
  let provider: PlexusWriter;
  let client: PlexusWriter;
  let relayer: PlexusWriter;
  const validatorKeys: Hex[] = [1, 2, 3, 4, 5].map((i) => keccak256(toHex(`plexus validator ${i}`)));
  const validators = validatorKeys.map((k) => privateKeyToAccount(k));

  async function advanceTo(timestamp: bigint) {
    const now = (await publicClient.getBlock()).timestamp;
    if (timestamp > now) await testClient.increaseTime({ seconds: Number(timestamp - now) });
    await testClient.mine({ blocks: 1 });
  }

  async function sign(payload: EpochPayload, keys = validators.slice(0, 3)) {
    return Promise.all(
      keys.map((v) => signEpoch(v, { chainId: anvil.chain.id, settlement: deployment.settlement }, payload)),
    );
  }

  async function rejects(promise: Promise<unknown>, errorName: string, args?: readonly unknown[]) {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof ChainRevertError, `expected ChainRevertError, got ${String(err)}`);
      assert.equal(err.code, 'PLX_CHAIN_REVERT');
      assert.equal(err.errorName, errorName);
      if (args) assert.deepEqual(err.args, args);
      return true;
    });
  }

  before(async () => {
    anvil = await startAnvil({ accounts: 4 });
    publicClient = createPublicClient({ chain: anvil.chain, transport: http(anvil.rpcUrl) });
    testClient = createTestClient({ chain: anvil.chain, mode: 'anvil', transport: http(anvil.rpcUrl) });
    const [k0, k1, k2, k3] = anvil.privateKeys as [Hex, Hex, Hex, Hex];
    const walletClient = createWalletClient({
      account: privateKeyToAccount(k0),
      chain: anvil.chain,
      transport: http(anvil.rpcUrl),
    });
    deployment = await deployPlexus({
      publicClient: publicClient as PlexusWriter['publicClient'],
      walletClient,
      validators: validators.map((v) => v.address),
      threshold: 3,
      minStake: 1_000n * PLX,
      unbondingPeriod: 3600n,
      epochDuration: EPOCH,
      withdrawalDelay: 2n * EPOCH,
    });
    admin = ctxOf(k0);
    provider = ctxOf(k1);
    client = ctxOf(k2);
    relayer = ctxOf(k3);
    await transferPlx(admin, provider.walletClient.account.address, 5_000n * PLX);
    await transferPlx(admin, client.walletClient.account.address, 10_000n * PLX);
  });

  after(async () => {
    await anvil?.stop();
  });

  test('deploys and wires the four contracts', async () => {
    const minter = await publicClient.readContract({
      address: deployment.token,
      abi: plexusAbis.token,
      functionName: 'minter',
    });
    assert.equal(minter, deployment.settlement);
    assert.equal(await getPlxBalance(admin, deployment.treasury), GENESIS_SUPPLY - 15_000n * PLX);
    const state = await getSettlementState(admin);
    assert.equal(state.threshold, 3n);
    assert.deepEqual(
      [...state.validators],
      validators.map((v) => v.address),
    );
    assert.equal(state.lastFinalizedEpoch, 0n);
  });

  test('a provider registers with stake', async () => {
    const digest = keccak256(toHex('4x A100, onnx'));
    await registerProvider(provider, {
      stake: 2_000n * PLX,
      capabilitiesDigest: digest,
      region: 'eu-west',
      uri: 'https://p1.example/meta',
    });
    const rec = await getProvider(provider, provider.walletClient.account.address);
    assert.equal(rec.active, true);
    assert.equal(rec.stake, 2_000n * PLX);
    assert.equal(rec.region, 'eu-west');
    assert.equal(rec.capabilitiesDigest, digest);
    await rejects(
      registerProvider(relayer, { stake: 1n, capabilitiesDigest: digest, region: 'x', uri: 'u' }),
      'StakeBelowMinimum',
      [1n, 1_000n * PLX],
    );
  });

  test('a client deposits, with approve and with a permit', async () => {
    await deposit(client, 3_000n * PLX);
    await depositWithPermit(client, 1_000n * PLX);
    const { balance } = await getEscrowBalance(client, client.walletClient.account.address);
    assert.equal(balance, 4_000n * PLX);
  });

  test('an epoch finalizes with 3 of 5 signatures made in TypeScript; claims pay the difference', async () => {
    const p = provider.walletClient.account.address;
    const others = [1, 2, 3].map((i) => privateKeyToAccount(keccak256(toHex(`earner ${i}`))).address);
    const rewards = buildRewardsTree([
      { account: p, cumulativeAmount: 700n * PLX },
      ...others.map((account, i) => ({ account, cumulativeAmount: BigInt(i + 1) * 50n * PLX })),
    ]);
    const payload: EpochPayload = {
      epoch: 1n,
      rewardsRoot: rewards.root,
      totalEarned: rewards.totalEarned,
      charges: [{ client: client.walletClient.account.address, amount: 1_000n * PLX }],
      slashes: [],
      emission: 0n,
      evidenceHash: keccak256(toHex('epoch 1 evidence')),
    };
    const target = { chainId: anvil.chain.id, settlement: deployment.settlement };
    const onChainDigest = await publicClient.readContract({
      address: deployment.settlement,
      abi: plexusAbis.settlement,
      functionName: 'hashEpoch',
      args: [
        {
          epoch: 1n,
          rewardsRoot: rewards.root,
          totalEarned: rewards.totalEarned,
          chargeClients: [client.walletClient.account.address],
          chargeAmounts: [1_000n * PLX],
          slashProviders: [],
          slashAmounts: [],
          evidenceHash: keccak256(toHex('epoch 1 evidence')),
          emission: 0n,
        },
      ],
    });
    assert.equal(hashEpoch(target, payload), onChainDigest);

    const sigs = await sign(payload);
    await rejects(finalizeEpoch(admin, payload, sigs), 'EpochNotEnded');
    await advanceTo((await getSettlementState(admin)).nextEpochEndsAt);
    await rejects(finalizeEpoch(admin, payload, sigs.slice(0, 2)), 'InsufficientSignatures', [2n, 3n]);
    const outsider = privateKeyToAccount(keccak256(toHex('outsider')));
    const withOutsider = [...sigs.slice(0, 2), await signEpoch(outsider, target, payload)];
    await rejects(finalizeEpoch(admin, payload, withOutsider), 'NotAValidator', [outsider.address]);
    const overCharge = {
      ...payload,
      charges: [{ client: client.walletClient.account.address, amount: 5_000n * PLX }],
    };
    await rejects(finalizeEpoch(admin, overCharge, await sign(overCharge)), 'InsufficientEscrowBalance', [
      client.walletClient.account.address,
      4_000n * PLX,
      5_000n * PLX,
    ]);

    await finalizeEpoch(admin, payload, sigs);
    const state = await getSettlementState(admin);
    assert.equal(state.lastFinalizedEpoch, 1n);
    assert.equal(state.rewardsRoot, rewards.root);
    await rejects(finalizeEpoch(admin, payload, sigs), 'UnexpectedEpoch', [2n, 1n]);

    // the proof comes straight from @openzeppelin/merkle-tree
    const index = [...rewards.tree.entries()].find(([, v]) => v[0] === p.toLowerCase())?.[0];
    assert.ok(index !== undefined, 'index !== undefined');
    const proof = StandardMerkleTree.load(rewards.tree.dump()).getProof(index) as Hex[];
    const before = await getPlxBalance(admin, p);
    await claimRewards(relayer, { account: p, cumulativeAmount: 700n * PLX, proof });
    assert.equal(
      await getPlxBalance(admin, p),
      before + 700n * PLX,
      'tokens go to the account, not the relayer',
    );
    assert.equal(await getClaimed(admin, p), 700n * PLX);
    await rejects(
      claimRewards(provider, { account: p, cumulativeAmount: 700n * PLX, proof }),
      'NothingToClaim',
    );

    // a tampered proof is rejected
    const other = rewards.claimFor(others[0]!)!;
    const tampered = [...other.proof];
    tampered[0] = `0x${(BigInt(tampered[0]!) ^ 1n).toString(16).padStart(64, '0')}`;
    await rejects(claimRewards(relayer, { ...other, proof: tampered }), 'InvalidProof', [
      other.account,
      other.cumulativeAmount,
    ]);
    await rejects(
      claimRewards(relayer, { ...other, cumulativeAmount: other.cumulativeAmount + 1n }),
      'InvalidProof',
    );
    await claimRewards(relayer, other);
    assert.equal(await getPlxBalance(admin, other.account), 50n * PLX);
  });

  test('withdrawals and unbonding wait out their delays', async () => {
    const c = client.walletClient.account.address;
    await requestWithdrawal(client, 500n * PLX);
    const pending = (await getEscrowBalance(client, c)).pendingWithdrawal;
    assert.equal(pending?.amount, 500n * PLX);
    await rejects(executeWithdrawal(client), 'WithdrawalNotReady');
    await advanceTo(pending!.readyAt);
    const before = await getPlxBalance(admin, c);
    await executeWithdrawal(client);
    assert.equal(await getPlxBalance(admin, c), before + 500n * PLX);

    const p = provider.walletClient.account.address;
    await requestUnbonding(provider, 2_000n * PLX);
    const rec = await getProvider(provider, p);
    assert.equal(rec.active, false, 'an unbonding provider takes no new work');
    await rejects(withdrawUnbonded(provider), 'UnbondingNotReady');
    await advanceTo(rec.unbondingReadyAt);
    await withdrawUnbonded(provider);
    assert.equal((await getProvider(provider, p)).registered, false);
  });
  test('provider, client and owner housekeeping', async () => {
    const p = provider.walletClient.account.address;
    const digest = keccak256(toHex('caps v2'));
    await registerProvider(provider, {
      stake: 1_000n * PLX,
      capabilitiesDigest: digest,
      region: 'us-east',
      uri: 'https://p1',
    });
    await addStake(provider, 500n * PLX);
    await updateProviderMetadata(provider, {
      capabilitiesDigest: digest,
      region: 'ap-south',
      uri: 'ipfs://meta',
    });
    await requestUnbonding(provider, 200n * PLX);
    await cancelUnbonding(provider);
    const rec = await getProvider(provider, p);
    assert.deepEqual(
      [rec.stake, rec.unbonding, rec.region, rec.uri, rec.active],
      [1_500n * PLX, 0n, 'ap-south', 'ipfs://meta', true],
    );
    await rejects(cancelUnbonding(provider), 'NothingUnbonding', [p]);

    const c = client.walletClient.account.address;
    await requestWithdrawal(client, 1n);
    await cancelWithdrawal(client);
    assert.equal((await getEscrowBalance(client, c)).pendingWithdrawal, undefined);
    await rejects(cancelWithdrawal(client), 'NoPendingWithdrawal', [c]);

    const extra = privateKeyToAccount(keccak256(toHex('validator 6')));
    await rejects(addValidator(provider, extra.address), 'OwnableUnauthorizedAccount', [p]);
    await addValidator(admin, extra.address);
    await setThreshold(admin, 6);
    await rejects(removeValidator(admin, extra.address), 'InvalidThreshold', [6n, 5n]);
    const state = await getSettlementState(admin);
    assert.equal(state.threshold, 6n);
    assert.equal(state.validators.length, 6);
    const payload: EpochPayload = {
      epoch: state.nextEpoch,
      rewardsRoot: state.rewardsRoot,
      totalEarned: state.totalEarned,
      charges: [],
      slashes: [],
      emission: 0n,
      evidenceHash: zeroHash,
    };
    await advanceTo(state.nextEpochEndsAt);
    await rejects(finalizeEpoch(admin, payload, await sign(payload, validators)), 'InsufficientSignatures', [
      5n,
      6n,
    ]);
    await setThreshold(admin, 3);
    await removeValidator(admin, extra.address);
    await finalizeEpoch(admin, payload, await sign(payload, validators.slice(2, 5)));
    assert.equal((await getSettlementState(admin)).lastFinalizedEpoch, payload.epoch);
  });
});
