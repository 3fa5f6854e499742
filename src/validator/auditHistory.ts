/**
 * The read-only auditor (`plexus validator audit`, docs/validators.md): replays a coordinator's
 * history from an epoch on with the same checks a validator makes before signing, and compares
 * every finalized epoch with what the chain recorded — its evidence hash and its EpochFinalized
 * root and total. What a provider or a journalist runs to trust the network without trusting us.
 */
import { type Address, type Hex, zeroHash } from 'viem';
import { plexusAbis } from '../chain/abis.ts';
import type { PlexusReader } from '../chain/types.ts';
import { readJsonBounded } from '../protocol/boundedBody.ts';
import { replicaFetch } from '../protocol/replicaFetch.ts';
import { type PublishedDraw, publishedDraws, revealedSeeds } from './checkDraws.ts';
import { settledBook } from './checkSettled.ts';
import type { EpochPrices } from './checkUnitPrice.ts';
import { downloadEvidence, MAX_COORDINATOR_JSON_BYTES } from './createValidator.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

/**
 * One audited epoch: `ok`, or the problems found (first differing fact, or a chain mismatch).
 *
 * @example
 * const a: AuditedEpoch = { epoch: 3, finalized: true, evidenceHash: '0x…', problems: [] };
 */
export type AuditedEpoch = {
  epoch: number;
  finalized: boolean;
  evidenceHash: Hex | null;
  problems: string[];
};

/**
 * Audits epochs `from`… of `coordinator` (every closed epoch it lists) against `chain`.
 *
 * @example
 * const report = await auditHistory({ coordinator: 'http://127.0.0.1:8080', chain, from: 1 });
 * const ok = report.every((e) => e.problems.length === 0);
 */
export async function auditHistory(opts: {
  coordinator: string;
  chain: PlexusReader;
  chainId: number;
  from: number;
  /** The network's identity: every claim must be signed by it (verifyEpoch.ts); none: unchecked. */
  coordinatorKey?: Address;
}): Promise<AuditedEpoch[]> {
  // Replicas (`URL1,URL2`): the one that answers.
  const replicas = replicaFetch(opts.coordinator);
  const { chain } = opts;
  const settlement = chain.addresses.settlement;
  const res = await replicas.fetch('/v1/epochs');
  if (!res.ok) throw new Error(`${replicas.url()}/v1/epochs: HTTP ${res.status}`);
  const { epochs } = (await res.json()) as { epochs: { epoch: number; status: string }[] };
  const todo = epochs
    .filter((e) => e.epoch >= opts.from && e.status !== 'open')
    .map((e) => e.epoch)
    .sort((a, b) => a - b);
  const lastFinalized = Number(
    await chain.publicClient.readContract({
      address: settlement,
      abi: plexusAbis.settlement,
      functionName: 'lastFinalizedEpoch',
    }),
  );
  const out: AuditedEpoch[] = [];
  // From epoch 1 the chain of bundles starts at the zero hash; from later, at the first bundle read.
  let prevHash: Hex | null = opts.from === 1 ? zeroHash : null;
  // The highest evidence version accepted along the way (versionRule.ts).
  let prevVersion: number | undefined;
  // Audit-seed commitments published along the way, to open the seeds revealed later.
  const commitments = new Map<number, Hex>();
  // Draws published along the way, recomputed when their seed is revealed.
  const published = new Map<number, PublishedDraw[]>();
  const seeds = new Map<number, string>();
  // Reputations replayed from the journal (from epoch 1: every draw's rate is recomputed).
  let reputation = new ReputationReplay({ complete: false });
  // Each stored object's price as its hold set it (checkStoragePrice.ts; null: unknown).
  const storagePrices = new Map<string, bigint | null>();
  // Each accepted epoch's base prices and close time (checkUnitPrice.ts).
  const epochPrices = new Map<number, EpochPrices>();
  // What the accepted bundles settled: a later bundle settling it again is a problem (checkSettled.ts).
  const settled = settledBook();
  for (const epoch of todo) {
    const problems: string[] = [];
    const evidence = await downloadEvidence(replicas, epoch);
    // The same bounded reads as the validator's (boundedBody.ts, review s13 F1).
    const claimRes = await replicas.fetch(`/v1/epochs/${epoch}/claim`, () => ({
      signal: AbortSignal.timeout(30_000),
    }));
    const claim = await readJsonBounded<EpochClaim>(
      claimRes,
      MAX_COORDINATOR_JSON_BYTES,
      `${replicas.url()}/v1/epochs/${epoch}/claim`,
    );
    const v = await verifyEpoch({
      evidence,
      claim,
      target: { chainId: opts.chainId, settlement },
      prevHash,
      // Versions never step back along the chain (versionRule.ts, issue 17 F2).
      ...(prevVersion !== undefined ? { prevVersion } : {}),
      commitmentOf: (e) => commitments.get(e),
      remembered: (e) => published.get(e) ?? [],
      seedOf: (e) => seeds.get(e),
      reputation,
      storagePrice: (o) => storagePrices.get(o) ?? undefined,
      pricesOf: (e) => epochPrices.get(e),
      settled: settled.memory,
      ...(opts.coordinatorKey ? { coordinatorKey: opts.coordinatorKey } : {}),
    });
    if (v.ok) for (const [o, p] of v.storagePrices) storagePrices.set(o, p);
    if (v.ok) epochPrices.set(epoch, v.prices);
    if (v.ok) settled.keep(v.settled);
    if (v.ok && v.reputation) reputation = v.reputation;
    else if (!v.ok) {
      // A refused bundle's journal is not applied: later reputations are no longer known.
      reputation = reputation.clone();
      reputation.seen = true;
      reputation.complete = false;
    }
    if (v.ok) {
      commitments.set(v.seedCommitment.epoch, v.seedCommitment.commitment);
      for (const d of publishedDraws(v.facts)) published.set(d.epoch, [...(published.get(d.epoch) ?? []), d]);
      for (const r of revealedSeeds(v.facts)) seeds.set(r.epoch, r.seed);
    }
    if (!v.ok) problems.push(`${v.fact}: coordinator ${v.claimed}, recomputed ${v.recomputed}`);
    const finalized = epoch <= lastFinalized;
    if (finalized && v.evidenceHash) {
      const onChain = await chain.publicClient.readContract({
        address: settlement,
        abi: plexusAbis.settlement,
        functionName: 'evidenceHashOf',
        args: [BigInt(epoch)],
      });
      if (onChain !== v.evidenceHash)
        problems.push(`chain evidenceHashOf ${onChain} ≠ bundle ${v.evidenceHash}`);
      const [event] = await chain.publicClient.getContractEvents({
        address: settlement,
        abi: plexusAbis.settlement,
        eventName: 'EpochFinalized',
        args: { epoch: BigInt(epoch) },
        fromBlock: 0n,
      });
      if (v.ok && event) {
        if (event.args.rewardsRoot !== v.payload.rewardsRoot)
          problems.push(`chain rewardsRoot ${event.args.rewardsRoot} ≠ recomputed ${v.payload.rewardsRoot}`);
        if (event.args.totalEarned !== v.payload.totalEarned)
          problems.push(`chain totalEarned ${event.args.totalEarned} ≠ recomputed ${v.payload.totalEarned}`);
      } else if (!event) problems.push('finalized on chain but no EpochFinalized event found');
    }
    out.push({ epoch, finalized, evidenceHash: v.evidenceHash, problems });
    prevHash = v.evidenceHash;
    if (v.ok) prevVersion = Math.max(prevVersion ?? 0, v.version);
  }
  return out;
}
