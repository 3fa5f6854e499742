/**
 * A validator that joins late (an empty store, a network whose epoch list starts after epoch 1:
 * `GET /v1/epochs` lists the newest 200) bootstraps its replay from the chain (docs/validators.md,
 * "Audit rates and reputation"): it downloads bundles 1 … first − 1, checks each with the same
 * `verifyEpoch` (chained by `prevHash` from the zero hash) and that its sha256 is the one
 * `EpochSettlement.evidenceHashOf(epoch)` stores — finalized, so signed by a quorum — and applies
 * their journals and ended leases. Its replay is then complete, and it checks the reputation term of
 * every rate from its first own decision. Stops (and the replay stays partial) at the first epoch
 * not finalized, not served, or not what the chain stores.
 */
import { type Address, type Hex, zeroHash } from 'viem';
import { type PublishedDraw, publishedDraws, revealedSeeds } from './checkDraws.ts';
import { settledBook } from './checkSettled.ts';
import type { EpochPrices } from './checkUnitPrice.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { type EpochClaim, type EpochVerdict, verifyEpoch } from './verifyEpoch.ts';

/** A bundle the bootstrap applied, for the store to keep (its replay, commitment and draws). */
export type BootstrappedEpoch = Extract<EpochVerdict, { ok: true }> & { epoch: number };

/**
 * Replays epochs 1 … `upTo` − 1 from their bundles, each checked against the chain. Returns the
 * replay and the epochs applied, or why it stopped (with what it applied before).
 *
 * @example
 * const b = await bootstrapReplay({ upTo: 201, evidence, claim, chain, target });
 */
export async function bootstrapReplay(args: {
  upTo: number;
  evidence: (epoch: number) => Promise<string>;
  claim: (epoch: number) => Promise<EpochClaim>;
  chain: { lastFinalized: () => Promise<number>; evidenceHashOf: (epoch: number) => Promise<Hex> };
  target: { chainId: number; settlement: Address };
  coordinatorKey?: Address;
}): Promise<{ replay: ReputationReplay; applied: BootstrappedEpoch[]; problem: string | null }> {
  let replay = new ReputationReplay({ complete: false });
  const applied: BootstrappedEpoch[] = [];
  const commitments = new Map<number, Hex>();
  const published = new Map<number, PublishedDraw[]>();
  const seeds = new Map<number, string>();
  const prices = new Map<number, EpochPrices>();
  const storagePrices = new Map<string, bigint | null>();
  // What the replayed bundles settled: a later one settling it again is refused (checkSettled.ts).
  const settled = settledBook();
  const lastFinalized = await args.chain.lastFinalized();
  let prevHash: Hex = zeroHash;
  // The highest evidence version replayed so far (versionRule.ts).
  let prevVersion: number | undefined;
  const stop = (problem: string) => ({ replay, applied, problem });
  for (let epoch = 1; epoch < args.upTo; epoch++) {
    if (epoch > lastFinalized) return stop(`epoch ${epoch} is not finalized on chain`);
    let v: EpochVerdict;
    try {
      v = await verifyEpoch({
        evidence: await args.evidence(epoch),
        claim: await args.claim(epoch),
        target: args.target,
        prevHash,
        // Versions never step back along the chain (versionRule.ts, issue 17 F2).
        ...(prevVersion !== undefined ? { prevVersion } : {}),
        commitmentOf: (e) => commitments.get(e),
        remembered: (e) => published.get(e) ?? [],
        seedOf: (e) => seeds.get(e),
        reputation: replay,
        pricesOf: (e) => prices.get(e),
        storagePrice: (o) => storagePrices.get(o) ?? undefined,
        settled: settled.memory,
        ...(args.coordinatorKey ? { coordinatorKey: args.coordinatorKey } : {}),
      });
    } catch (err) {
      return stop(`epoch ${epoch}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!v.ok) return stop(`epoch ${epoch}: ${v.fact} (${v.claimed} ≠ ${v.recomputed})`);
    const onChain = await args.chain.evidenceHashOf(epoch);
    if (onChain.toLowerCase() !== v.evidenceHash.toLowerCase())
      return stop(`epoch ${epoch}: evidenceHashOf ${onChain} on chain ≠ bundle ${v.evidenceHash}`);
    if (v.reputation) replay = v.reputation;
    commitments.set(v.seedCommitment.epoch, v.seedCommitment.commitment);
    for (const d of publishedDraws(v.facts)) published.set(d.epoch, [...(published.get(d.epoch) ?? []), d]);
    for (const r of revealedSeeds(v.facts)) seeds.set(r.epoch, r.seed);
    prices.set(epoch, v.prices);
    for (const [o, p] of v.storagePrices) storagePrices.set(o, p);
    settled.keep(v.settled);
    applied.push({ ...v, epoch });
    prevHash = v.evidenceHash;
    prevVersion = Math.max(prevVersion ?? 0, v.version);
  }
  return { replay, applied, problem: null };
}
