/**
 * Gas of Plexus settlement on a real anvil chain (`npm run bench -- settlement-gas [--json]`).
 *
 * Figures (all gasUsed from transaction receipts, so they include the 21,000 base cost and calldata):
 * - `claim` against a rewards tree of 100,000 providers (OpenZeppelin StandardMerkleTree, proof depth 17):
 *   first claims (fresh storage) and repeat claims one epoch later;
 * - `finalizeEpoch` with 3-of-5 validator signatures and 100 client charges;
 * - on-chain gas per job when 10,000 jobs settle in one epoch (one finalizeEpoch with the 100 clients'
 *   charges + one claim by each of the 100 providers who did the work), against two baselines measured
 *   in the same run: every job settled in its own epoch through the same contracts (a finalizeEpoch with
 *   one charge + the provider's claim), and every job paid by a bare PLX transfer from client to
 *   provider (no escrow, no quorum, no verification: the cheapest conceivable per-job settlement).
 *
 * Options: `--providers N` (tree size, default 100000), `--samples N` (per-job baseline samples, default 20).
 */
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  toHex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deposit } from '../src/chain/actions/client/deposit.ts';
import { finalizeEpoch } from '../src/chain/actions/coordinator/finalizeEpoch.ts';
import { getClaimed } from '../src/chain/actions/coordinator/getClaimed.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { claimRewards } from '../src/chain/actions/provider/claimRewards.ts';
import { transferPlx } from '../src/chain/actions/transferPlx.ts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus } from '../src/chain/deployPlexus.ts';
import { signEpoch } from '../src/chain/epoch/signEpoch.ts';
import { buildRewardsTree, type RewardEntry } from '../src/chain/merkle/buildRewardsTree.ts';
import { startAnvil } from '../src/chain/startAnvil.ts';
import type { EpochPayload, PlexusWriter } from '../src/chain/types.ts';

const JOBS = 10_000;
const CLIENTS = 100;
const WORKERS = 100;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

const sorted = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const median = (xs: bigint[]) => sorted(xs)[Math.floor(xs.length / 2)] as bigint;
const max = (xs: bigint[]) => sorted(xs)[xs.length - 1] as bigint;
const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
const fmt = (g: bigint | number) => g.toLocaleString('en-US');

/** Deterministic filler addresses, cheap to make (no key derivation): 0x + 40 hex digits of a counter hash. */
function fillerAddress(i: number): Hex {
  const x = (BigInt(i + 1) * 0x9e3779b97f4a7c15f39cc0605cedc8341082276bn) % (1n << 160n);
  return `0x${x.toString(16).padStart(40, '0')}`;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const providers = option(args, '--providers', 100_000);
  const samples = option(args, '--samples', 20);
  const anvil = await startAnvil({ accounts: 1, gasLimit: 100_000_000n });
  try {
    const publicClient = createPublicClient({ chain: anvil.chain, transport: http(anvil.rpcUrl) });
    const testClient = createTestClient({ chain: anvil.chain, mode: 'anvil', transport: http(anvil.rpcUrl) });
    const wallet = (key: Hex) =>
      createWalletClient({
        account: privateKeyToAccount(key),
        chain: anvil.chain,
        transport: http(anvil.rpcUrl),
      });
    const validators = [1, 2, 3, 4, 5].map((i) =>
      privateKeyToAccount(keccak256(toHex(`bench validator ${i}`))),
    );
    const admin = wallet(anvil.privateKeys[0] as Hex);
    const pc = publicClient as PlexusWriter['publicClient'];
    const deployment = await deployPlexus({
      publicClient: pc,
      walletClient: admin,
      validators: validators.map((v) => v.address),
      threshold: 3,
      epochDuration: 1n,
      withdrawalDelay: 2n,
    });
    const ctx: PlexusWriter = { publicClient: pc, walletClient: admin, addresses: deployment };
    const target = { chainId: anvil.chain.id, settlement: deployment.settlement };

    const finalize = async (payload: EpochPayload) => {
      const { nextEpochEndsAt } = await getSettlementState(ctx);
      const now = (await publicClient.getBlock()).timestamp;
      if (nextEpochEndsAt > now) await testClient.increaseTime({ seconds: Number(nextEpochEndsAt - now) });
      await testClient.mine({ blocks: 1 });
      // 3 of the 5 validators sign; any 3 will do
      const sigs = await Promise.all(validators.slice(0, 3).map((v) => signEpoch(v, target, payload)));
      return finalizeEpoch(ctx, payload, sigs);
    };

    // ---- 100 clients with escrow deposits; 100 providers who did this epoch's 10,000 jobs
    console.log(`setting up ${CLIENTS} clients with escrow deposits…`);
    const clientKeys = Array.from({ length: CLIENTS }, (_, i) => keccak256(toHex(`bench client ${i}`)));
    const clientCtxs: PlexusWriter[] = [];
    for (const key of clientKeys) {
      const c: PlexusWriter = { publicClient: pc, walletClient: wallet(key), addresses: deployment };
      await testClient.setBalance({ address: c.walletClient.account.address, value: 10n ** 20n });
      await transferPlx(ctx, c.walletClient.account.address, 1_000n * PLX);
      await deposit(c, 1_000n * PLX);
      clientCtxs.push(c);
    }
    const workers = Array.from(
      { length: WORKERS },
      (_, i) => privateKeyToAccount(keccak256(toHex(`bench provider ${i}`))).address,
    );

    // ---- the rewards tree of `providers` accounts; the 100 workers spread through it
    const perWorker = 100n * PLX; // 10,000 jobs x 1 PLX, 100 jobs per worker
    const entries = (round: bigint): RewardEntry[] => {
      const out: RewardEntry[] = [];
      const stride = Math.floor(providers / WORKERS);
      for (let i = 0; i < providers; i++) {
        const w = i % stride === 0 ? i / stride : -1;
        out.push(
          w >= 0 && w < WORKERS
            ? { account: workers[w]!, cumulativeAmount: perWorker * round }
            : { account: fillerAddress(i), cumulativeAmount: 0n },
        );
      }
      return out;
    };
    let started = performance.now();
    const tree1 = buildRewardsTree(entries(1n));
    const treeMs = performance.now() - started;
    console.log(`built a ${fmt(providers)}-leaf rewards tree in ${(treeMs / 1000).toFixed(1)} s`);

    // ---- epoch 1: 100 charges (10,000 jobs x 1 PLX, 100 jobs per client), 3-of-5 signatures
    const charges = clientCtxs.map((c) => ({ client: c.walletClient.account.address, amount: 100n * PLX }));
    const epoch1: EpochPayload = {
      epoch: 1n,
      rewardsRoot: tree1.root,
      totalEarned: tree1.totalEarned,
      charges,
      slashes: [],
      emission: 0n,
      evidenceHash: keccak256(toHex('evidence 1')),
    };
    const fin100 = await finalize(epoch1);
    console.log(`finalizeEpoch, 3-of-5 signatures, ${charges.length} charges: ${fmt(fin100.gasUsed)} gas`);

    // ---- first claims (the relayer = deployer sends them; tokens go to the workers)
    const firstClaims: bigint[] = [];
    for (const w of workers) firstClaims.push((await claimRewards(ctx, tree1.claimFor(w)!)).gasUsed);
    const proofDepth = tree1.claimFor(workers[0]!)!.proof.length;
    console.log(
      `claim (tree of ${fmt(providers)}, proof ${proofDepth} hashes), first claim: median ${fmt(median(firstClaims))}, max ${fmt(max(firstClaims))} gas`,
    );

    // ---- epoch 2: same work again; repeat claims touch already-written storage
    started = performance.now();
    const tree2 = buildRewardsTree(entries(2n));
    console.log(`rebuilt the tree in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const fin100b = await finalize({
      ...epoch1,
      epoch: 2n,
      rewardsRoot: tree2.root,
      totalEarned: tree2.totalEarned,
    });
    const repeatClaims: bigint[] = [];
    for (const w of workers) repeatClaims.push((await claimRewards(ctx, tree2.claimFor(w)!)).gasUsed);
    console.log(
      `claim, repeat claim one epoch later: median ${fmt(median(repeatClaims))}, max ${fmt(max(repeatClaims))} gas`,
    );

    // ---- per job, batched: one finalizeEpoch + each worker's claim, over 10,000 jobs
    const batchedTotal = fin100b.gasUsed + sum(repeatClaims);
    const batchedPerJob = Number(batchedTotal) / JOBS;

    // ---- baseline A: each job settled in its own epoch through the same contracts (1 charge + 1 claim).
    // Its trees hold two leaves (proof of 1 hash), which flatters this baseline: with every provider in
    // the tree its claims would cost as much as the claims above.
    const perJobOwnEpoch: bigint[] = [];
    let epoch = 3n;
    for (let s = 0; s < samples; s++) {
      const worker = workers[s % WORKERS]!;
      const client = clientCtxs[s % CLIENTS]!;
      const cumulative = (await getClaimed(ctx, worker)) + 1n * PLX;
      const t = buildRewardsTree([
        { account: worker, cumulativeAmount: cumulative },
        { account: fillerAddress(providers + s), cumulativeAmount: 0n },
      ]);
      // everything earlier was claimed, so this epoch's total is what was claimed plus this job
      const f = await finalize({
        epoch,
        rewardsRoot: t.root,
        totalEarned: (await getSettlementState(ctx)).totalClaimed + 1n * PLX,
        charges: [{ client: client.walletClient.account.address, amount: 1n * PLX }],
        slashes: [],
        emission: 0n,
        // A non-zero hash, as a real epoch has: storing it is part of the finalize cost measured.
        evidenceHash: keccak256(toHex(`evidence ${epoch}`)),
      });
      const claimed = await claimRewards(ctx, t.claimFor(worker)!);
      perJobOwnEpoch.push(f.gasUsed + claimed.gasUsed);
      epoch += 1n;
    }

    // ---- baseline B: each job paid by a bare PLX transfer from client to provider
    const perJobTransfer: bigint[] = [];
    for (let s = 0; s < samples; s++) {
      const client = clientCtxs[s % CLIENTS]!;
      const worker = workers[(s * 7 + 3) % WORKERS]!;
      await testClient.setBalance({ address: client.walletClient.account.address, value: 10n ** 20n });
      await transferPlx(ctx, client.walletClient.account.address, 1n * PLX);
      perJobTransfer.push((await transferPlx(client, worker, 1n * PLX)).gasUsed);
    }

    const ownEpochMedian = median(perJobOwnEpoch);
    const transferMedian = median(perJobTransfer);
    console.log(
      `\non-chain gas per job, ${fmt(JOBS)} jobs in one epoch (${CLIENTS} clients, ${WORKERS} providers):`,
    );
    console.log(
      `  Plexus epoch settlement:            ${batchedPerJob.toFixed(1)} gas/job  (finalizeEpoch + ${WORKERS} claims = ${fmt(batchedTotal)} gas)`,
    );
    console.log(
      `  baseline, one epoch per job:        ${fmt(ownEpochMedian)} gas/job  (median of ${samples}: finalizeEpoch with 1 charge + claim)  → ${(Number(ownEpochMedian) / batchedPerJob).toFixed(0)}x`,
    );
    console.log(
      `  baseline, one PLX transfer per job: ${fmt(transferMedian)} gas/job  (median of ${samples})  → ${(Number(transferMedian) / batchedPerJob).toFixed(0)}x`,
    );

    return {
      providersInTree: providers,
      proofDepth,
      treeBuildSeconds: Number((treeMs / 1000).toFixed(1)),
      claimFirstGasMedian: Number(median(firstClaims)),
      claimFirstGasMax: Number(max(firstClaims)),
      claimRepeatGasMedian: Number(median(repeatClaims)),
      claimRepeatGasMax: Number(max(repeatClaims)),
      finalizeEpoch3of5With100ChargesGas: Number(fin100.gasUsed),
      finalizeEpoch3of5With100ChargesRepeatGas: Number(fin100b.gasUsed),
      jobs: JOBS,
      batchedGasTotal: Number(batchedTotal),
      batchedGasPerJob: Number(batchedPerJob.toFixed(1)),
      baselineOwnEpochGasPerJobMedian: Number(ownEpochMedian),
      baselineTransferGasPerJobMedian: Number(transferMedian),
      samples,
      ratioOwnEpoch: Number((Number(ownEpochMedian) / batchedPerJob).toFixed(1)),
      ratioTransfer: Number((Number(transferMedian) / batchedPerJob).toFixed(1)),
    };
  } finally {
    await anvil.stop();
  }
}
