/**
 * What a validator decides about one epoch (docs/validators.md): it re-runs the coordinator's own
 * pure epoch computation over the published evidence and compares the result, fact by fact, with
 * what the coordinator asks it to sign. Pure: no network, no store, no key.
 */
import type { Address, Hex } from 'viem';
import type { EpochPayload } from '../chain/types.ts';
import type { EpochPayloadJson } from '../coordinator/ledger/epochPayload.ts';
import { provenFaulty } from '../coordinator/settlement/bundleFaults.ts';
import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';
import type { EndedLease, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { decodeEvidence, GENESIS_EVIDENCE_HASH } from '../coordinator/settlement/evidence.ts';
import { type CoordinatorClaimSignature, claimSignatureProblem } from '../protocol/claimSignature.ts';
import { bindingsOf } from '../protocol/taskRef.ts';
import { checkAuditRates } from './checkAuditRates.ts';
import { checkCanaryHolds } from './checkCanaryHolds.ts';
import { checkCapabilityProofs } from './checkCapabilityProofs.ts';
import { CHARGE_MEMORY_MS, checkCompensationCharges, type SeenCharge } from './checkCompensations.ts';
import type { PublishedDraw } from './checkDraws.ts';
import { checkFacts } from './checkFacts.ts';
import { checkJournalTasks, checkPaidCredits } from './checkJournalTasks.ts';
import { checkLeases } from './checkLeases.ts';
import { checkReinstatementFacts } from './checkReinstatements.ts';
import { checkReviewCheckers } from './checkReviewCheckers.ts';
import { checkSettled, type SettledFacts, type SettledMemory } from './checkSettled.ts';
import { checkTimeouts } from './checkTimeouts.ts';
import type { EpochPrices } from './checkUnitPrice.ts';
import { checkCanaryFaults, checkLeaseResults, unpaidResults } from './checkUnpaidResults.ts';
import type { ReputationReplay } from './reputationReplay.ts';
import { checkTaskJobs } from './taskOfJob.ts';
import { versionProblem } from './versionRule.ts';

/**
 * What a coordinator claims for an epoch (`GET /v1/epochs/:epoch/claim`): its payload (bigints as
 * decimal strings) and the rewards tree's leaves.
 *
 * @example
 * const claim: EpochClaim = await (await fetch(`${url}/v1/epochs/4/claim`)).json();
 */
export type EpochClaim = {
  epoch: number;
  payload: EpochPayloadJson;
  leaves: { account: string; cumulativeAmount: string }[];
  /** The network key's signature over the epoch's evidence hash (protocol/claimSignature.ts). */
  coordinator?: CoordinatorClaimSignature | null;
};

/**
 * The verdict: the payload to sign, or the first fact that differs (`fact` names it, e.g.
 * `rewards[0xab…]`, with both values).
 *
 * @example
 * const v: EpochVerdict = { ok: false, fact: 'rewards[0xab…]', claimed: '1001', recomputed: '1000' };
 */
export type EpochVerdict =
  | {
      ok: true;
      payload: EpochPayload;
      /** The bundle's evidence version: a later bundle of the chain carries at least it. */
      version: number;
      evidenceHash: Hex;
      prevHash: Hex;
      /** The audit-seed commitment this bundle publishes (checked when that seed is revealed). */
      seedCommitment: { epoch: number; commitment: Hex };
      /** The bundle's facts (the executions a validator may re-run). */
      facts: EpochFacts;
      /** The reputation replay with this bundle's journal applied (given `reputation`): keep it when signing. */
      reputation?: ReputationReplay;
      /** The charges this bundle showed and the backings its compensations used (given `charges`): keep them when signing. */
      charges?: { charges: SeenCharge[]; used: string[]; endsAt: number };
      /** Results on tasks this bundle pays, neither paid nor slashed (checkUnpaidResults.ts): compared by checkVerdicts. */
      unpaid: EndedLease[];
      /** Each object's storage price its hold in this bundle set (null: unknown): keep them when signing. */
      storagePrices: [string, bigint | null][];
      /** This epoch's base prices and close time: a later bundle's charge may be priced at them. */
      prices: EpochPrices;
      /** What this bundle settles once (checkSettled.ts): keep it when signing. */
      settled: SettledFacts;
    }
  | { ok: false; fact: string; claimed: string; recomputed: string; evidenceHash: Hex | null };

/**
 * Checks an epoch: the evidence is canonical and of the expected chain, contract and epoch; it is
 * chained to the previous bundle this validator accepted (when it has one); its signed facts hold
 * and add up to the balances it settles (checkFacts.ts); and the coordinator's claim equals
 * `computeEpoch` over it — evidence hash, charges, slashes, emission, every rewards leaf, root and
 * total, in that order, so a dispute names the most specific fact first.
 *
 * @example
 * const v = await verifyEpoch({ evidence: text, claim, target: { chainId, settlement }, prevHash });
 * if (v.ok) await signEpoch(account, target, v.payload);
 */
export async function verifyEpoch(args: {
  evidence: string;
  claim: EpochClaim;
  target: { chainId: number; settlement: Address };
  /** Hash of the previous epoch's bundle as this validator accepted it (null: none known). */
  prevHash: Hex | null;
  /**
   * The highest evidence version this validator accepted from this chain (versionRule.ts): a
   * lower one is refused. None: only the cutoff date applies.
   */
  prevVersion?: number;
  /** The version-12 cutoff (versionRule.ts `VERSION_12_SINCE_MS`; tests pin it). */
  version12Since?: number;
  /** Audit-seed commitments published by bundles this validator accepted earlier. */
  commitmentOf?: (epoch: number) => Hex | undefined;
  /** Draws published by bundles this validator accepted earlier, by their seed's epoch (checkDraws.ts). */
  remembered?: (epoch: number) => readonly PublishedDraw[];
  /** Seeds revealed by bundles this validator accepted earlier (checkDraws.ts `revealedSeeds`). */
  seedOf?: (epoch: number) => string | undefined;
  /**
   * The followed network's identity: the address whose signature over (epoch, evidence hash) the
   * claim must carry (`claim.signature` otherwise, before anything else is read). None: unchecked.
   */
  coordinatorKey?: Address;
  /**
   * Providers' reputations replayed from the journal of the bundles accepted before this one
   * (reputationReplay.ts): each draw's rate is recomputed (checkAuditRates.ts). Not changed: the
   * verdict carries a copy with this bundle's journal applied. None: rates checked for bounds only.
   */
  reputation?: ReputationReplay;
  /**
   * The execution charges earlier signed bundles showed (by ref) and the refund/reward backings
   * their compensations used (checkCompensations.ts `checkCompensationCharges`); with `reputation`
   * (whose `charges` says since when this validator keeps them). None: compensations are checked by
   * their memo alone.
   */
  charges?: { seen: (ref: string) => SeenCharge | undefined; used: (key: string) => boolean };
  /**
   * The price per GiB-epoch of an object's term as an earlier signed bundle's hold set it
   * (checkStoragePrice.ts; null: set by a hold without its evidence). None: only this bundle's holds.
   */
  storagePrice?: (objectId: string) => bigint | undefined;
  /** Earlier epochs' base prices from bundles accepted before (checkUnitPrice.ts). None: cap only. */
  pricesOf?: (epoch: number) => EpochPrices | undefined;
  /**
   * What bundles accepted before this one settled (checkSettled.ts): a ref settled again, a task
   * paid more executions than its policy allows across bundles, or a receipt paid again is
   * refused. None: checked within this bundle only.
   */
  settled?: SettledMemory;
}): Promise<EpochVerdict> {
  const { claim, target } = args;
  let decoded: ReturnType<typeof decodeEvidence>;
  try {
    decoded = decodeEvidence(args.evidence);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, fact: 'evidence', claimed: msg, recomputed: 'canonical bundle', evidenceHash: null };
  }
  const { bundle, hash } = decoded;
  const bad = (fact: string, claimed: unknown, recomputed: unknown): EpochVerdict => ({
    ok: false,
    fact,
    claimed: String(claimed),
    recomputed: String(recomputed),
    evidenceHash: hash,
  });
  // Whose bundle is this: only one the followed network signed is acted on (a server listed as a
  // replica could otherwise serve an epoch of its own making, consistent in every other respect).
  if (args.coordinatorKey) {
    const wrong = await claimSignatureProblem(
      claim.coordinator,
      args.coordinatorKey,
      target,
      claim.epoch,
      hash,
    );
    if (wrong) return bad('claim.signature', wrong, `signed by ${args.coordinatorKey}`);
  }
  if (bundle.epoch !== claim.epoch || bundle.inputs.epoch !== claim.epoch)
    return bad('evidence.epoch', bundle.epoch, claim.epoch);
  if (bundle.chainId !== target.chainId) return bad('evidence.chainId', bundle.chainId, target.chainId);
  if (bundle.settlement.toLowerCase() !== target.settlement.toLowerCase())
    return bad('evidence.settlement', bundle.settlement, target.settlement);
  if (args.prevHash !== null && bundle.prevHash !== args.prevHash)
    return bad('evidence.prevHash', bundle.prevHash, args.prevHash);
  // No stepping back to a version that skips checks (issue 17, F2).
  const versionWrong = versionProblem(
    bundle.version,
    bundle.inputs.startsAt,
    args.prevVersion,
    args.version12Since,
  );
  if (versionWrong) return bad(versionWrong.fact, versionWrong.claimed, versionWrong.recomputed);
  let reputation: ReputationReplay | undefined;
  let seenCharges: { charges: SeenCharge[]; used: string[]; endsAt: number } | undefined;
  let unpaid: EndedLease[] = [];
  // Storage prices set by this bundle's holds (version 8 on: each hold carries its price's evidence).
  const storagePrices = new Map<string, bigint | null>();
  let settled: SettledFacts = { refs: [], executions: [], receipts: [] };
  try {
    const dispute = await checkFacts(
      bundle.facts,
      bundle.inputs,
      bundle.chainId,
      args.commitmentOf,
      args.remembered,
      {
        required: bundle.version >= 8,
        prices: storagePrices,
        ...(args.storagePrice ? { remembered: args.storagePrice } : {}),
      },
      { exact: bundle.version >= 9, ...(args.pricesOf ? { pricesOf: args.pricesOf } : {}) },
      args.seedOf,
    );
    if (dispute) return bad(dispute.fact, dispute.claimed, dispute.recomputed);
    // Every task named with its job is a task of that job (taskOfJob.ts), and nothing settled by
    // an earlier bundle is settled again (checkSettled.ts).
    const unbound = checkTaskJobs(bundle.facts);
    if (unbound) return bad(unbound.fact, unbound.claimed, unbound.recomputed);
    // The execution charges kept for compensations (`charges.seen`, CHARGE_MEMORY_MS) were settled
    // too: a store from before settled refs were kept still knows them.
    const seen = args.charges?.seen;
    const memory: SettledMemory | undefined =
      args.settled && seen
        ? { ...args.settled, settled: (ref) => args.settled!.settled(ref) || seen(ref) !== undefined }
        : (args.settled ??
          (seen
            ? { settled: (ref) => seen(ref) !== undefined, executions: () => 0, receiptPaid: () => undefined }
            : undefined));
    const once = checkSettled(bundle.facts, memory);
    if ('fact' in once) return bad(once.fact, once.claimed, once.recomputed);
    settled = once;
    // Version 10: no emission to a provider this bundle proves faulty (bundleFaults.ts).
    if (bundle.version >= 10) {
      const faulted = new Set(bundle.inputs.faulted.map((p) => p.toLowerCase()));
      const left = provenFaulty(bundle.inputs, bundle.facts).find((p) => !faulted.has(p));
      if (left)
        return bad(
          `inputs.faulted[${left}]`,
          'not faulted',
          'faulted: slashed or journaled a fault in the epoch',
        );
    }
    // Version 12: the capability proofs emission is split by, signed and re-timed (the answers
    // themselves are downloaded and checked by the caller: checkCapabilityAnswers).
    if (bundle.version >= 12) {
      const proofs = bundle.facts.capabilityProofs ?? [];
      const cap = await checkCapabilityProofs(proofs, bundle.inputs, bundle.chainId);
      if (cap) return bad(cap.fact, cap.claimed, cap.recomputed);
    }
    // Timeouts carry their cause from version 5 on; a legacy one (journaled before) only in the
    // first such bundle a validator with a replay applies (without one: accepted, documented).
    const causesRequired = bundle.version >= 5;
    const firstWithCauses = args.reputation?.causesEpoch;
    const bind = bindingsOf(bundle.facts.leaseSalts);
    const timeouts = await checkTimeouts(bundle.facts, bundle.chainId, {
      bind,
      causesRequired,
      legacyAllowed: firstWithCauses === undefined || firstWithCauses === bundle.epoch,
      jobsRequired: bundle.version >= 6,
    });
    if (timeouts) return bad(timeouts.fact, timeouts.claimed, timeouts.recomputed);
    // Version 9: the journal's task ids agree with the facts on those tasks.
    const tasks = bundle.version >= 9 ? checkJournalTasks(bundle.facts) : null;
    if (tasks) return bad(tasks.fact, tasks.claimed, tasks.recomputed);
    // Without a replay the hold decisions are checked from what they carry (with one: below).
    const holdsAlone = bundle.version >= 9 && !args.reputation ? checkCanaryHolds(bundle.facts) : null;
    if (holdsAlone) return bad(holdsAlone.fact, holdsAlone.claimed, holdsAlone.recomputed);
    // Version 6: every timeout cites one listed ended lease, and none owed is left out.
    const leases =
      bundle.version >= 6 ? checkLeases(bundle.facts, bundle.inputs, args.reputation?.leases) : undefined;
    if (leases && 'fact' in leases) return bad(leases.fact, leases.claimed, leases.recomputed);
    // Version 7: a reinstatement carries the review that overturned its fault; a verdict that faults
    // a provider has its fault (checkReinstatements.ts, checkUnpaidResults.ts).
    const v7 = bundle.version >= 7;
    const reinstated = await checkReinstatementFacts(bundle.facts.reputation ?? [], bundle.chainId, v7, bind);
    if (reinstated) return bad(reinstated.fact, reinstated.claimed, reinstated.recomputed);
    if (v7) {
      unpaid = unpaidResults(bundle.facts, args.reputation?.leases?.open ?? []);
      const results = await checkLeaseResults(bundle.facts, bundle.chainId, unpaid, bind);
      if (results) return bad(results.fact, results.claimed, results.recomputed);
      const canaries = checkCanaryFaults(bundle.facts);
      if (canaries) return bad(canaries.fact, canaries.claimed, canaries.recomputed);
    }
    if (args.reputation) {
      reputation = args.reputation.clone();
      if (leases) reputation.leases = leases;
      if (causesRequired) reputation.causesEpoch ??= bundle.epoch;
      // Reputations are known from the network's first bundle on, or not at all.
      if (!reputation.seen) reputation.complete = bundle.prevHash === GENESIS_EVIDENCE_HASH;
      reputation.seen = true;
      const rates = checkAuditRates(bundle.facts, reputation, bundle.epoch, bundle.inputs.endsAt);
      if (rates) return bad(rates.fact, rates.claimed, rates.recomputed);
      // Version 10, with the whole journal: every payee of a task paid more than once is credited
      // on it, in this bundle's journal or an earlier one's (checkJournalTasks.ts).
      const credits =
        bundle.version >= 10 && reputation.complete ? checkPaidCredits(bundle.facts, reputation) : null;
      if (credits) return bad(credits.fact, credits.claimed, credits.recomputed);
      // Version 9: each canary miss's hold decision, its record checked against the replay.
      const holds = bundle.version >= 9 ? checkCanaryHolds(bundle.facts, reputation) : null;
      if (holds) return bad(holds.fact, holds.claimed, holds.recomputed);
      // The unpaid results to compare: none of a provider caught after its result (the replay
      // knows its faults from every bundle applied, this one's included).
      const replay = reputation;
      if (v7)
        unpaid = unpaidResults(bundle.facts, args.reputation.leases?.open ?? [], (p, at) =>
          replay.faultedSince(p, at),
        );
      if (args.charges) {
        // Since when charges are kept: with no grace only for a validator that followed the
        // network from its first bundle with this check (it saw every charge).
        reputation.charges ??= {
          from: bundle.inputs.closedAt,
          grace: !reputation.complete || args.reputation.seen,
        };
        const since = reputation.charges;
        const grace = since.grace && bundle.inputs.closedAt < since.from + CHARGE_MEMORY_MS;
        const c = checkCompensationCharges(bundle.facts, args.charges.seen, args.charges.used, grace);
        if ('fact' in c) return bad(c.fact, c.claimed, c.recomputed);
        seenCharges = { ...c, endsAt: bundle.inputs.endsAt };
      }
    }
    // Version 10: each review check carries what its checker was drawn on; trusted (with a
    // complete replay) and independent of the review's parties (checkReviewCheckers.ts).
    // A check drawn before the coordinator kept bases (migration 0070) lacks one: allowed for
    // results signed before the first version-10 bundle this validator's replay applied closed.
    // Version 12: each also records the providers drawn lower than its checker (checkCheckerDraw.ts),
    // required for results signed from the first version-12 bundle the replay applied on.
    if (reputation && bundle.version >= 10) reputation.basesFrom ??= bundle.inputs.closedAt;
    if (reputation && bundle.version >= 12) reputation.drawsFrom ??= bundle.inputs.closedAt;
    const checkers = checkReviewCheckers(
      bundle.facts,
      reputation?.complete ? reputation : undefined,
      bundle.version >= 10,
      reputation?.basesFrom,
      bundle.version >= 12 ? (reputation?.drawsFrom ?? Number.NEGATIVE_INFINITY) : Number.POSITIVE_INFINITY,
      {
        epoch: bundle.epoch,
        startsAt: bundle.inputs.startsAt,
        endsAt: bundle.inputs.endsAt,
        providers: bundle.inputs.providers.length,
      },
    );
    if (checkers) return bad(checkers.fact, checkers.claimed, checkers.recomputed);
  } catch (err) {
    // Malformed facts (a field of the wrong type) are a dispute, not a crash of the validator.
    return bad('evidence.facts', err instanceof Error ? err.message : String(err), 'well-formed facts');
  }

  const outcome = computeEpoch(bundle.inputs, hash);
  const mine = outcome.payload;
  const p = claim.payload;
  if (p.evidenceHash !== hash) return bad('payload.evidenceHash', p.evidenceHash, hash);
  if (BigInt(p.epoch) !== mine.epoch) return bad('payload.epoch', p.epoch, mine.epoch);
  // Per client, then per provider: the fact a dispute names is the account whose money moved.
  const charges = new Map(mine.charges.map((c) => [c.client.toLowerCase(), c.amount]));
  for (const c of p.charges) {
    const k = c.client.toLowerCase();
    if (charges.get(k) !== BigInt(c.amount)) return bad(`charge[${k}]`, c.amount, charges.get(k) ?? 0n);
    charges.delete(k);
  }
  for (const [k, v] of charges) return bad(`charge[${k}]`, 0n, v);
  const slashes = new Map(mine.slashes.map((s) => [s.provider.toLowerCase(), s.amount]));
  for (const s of p.slashes) {
    const k = s.provider.toLowerCase();
    if (slashes.get(k) !== BigInt(s.amount)) return bad(`slash[${k}]`, s.amount, slashes.get(k) ?? 0n);
    slashes.delete(k);
  }
  for (const [k, v] of slashes) return bad(`slash[${k}]`, 0n, v);
  if (BigInt(p.emission) !== mine.emission) return bad('payload.emission', p.emission, mine.emission);
  const leaves = new Map<string, bigint>();
  if (outcome.tree) {
    const dump = JSON.parse(outcome.tree) as { values: { value: [string, string] }[] };
    for (const v of dump.values) leaves.set(v.value[0].toLowerCase(), BigInt(v.value[1]));
  }
  for (const l of claim.leaves) {
    const k = l.account.toLowerCase();
    if (leaves.get(k) !== BigInt(l.cumulativeAmount))
      return bad(`rewards[${k}]`, l.cumulativeAmount, leaves.get(k) ?? 0n);
    leaves.delete(k);
  }
  for (const [k, v] of leaves) return bad(`rewards[${k}]`, 0n, v);
  if (p.rewardsRoot !== mine.rewardsRoot) return bad('payload.rewardsRoot', p.rewardsRoot, mine.rewardsRoot);
  if (BigInt(p.totalEarned) !== mine.totalEarned)
    return bad('payload.totalEarned', p.totalEarned, mine.totalEarned);
  // Orders matter on chain (the signed arrays): same sets in another order is another payload.
  const order = (xs: readonly { amount: bigint }[], ys: readonly { amount: string }[]) =>
    xs.map((x) => x.amount.toString()).join() === ys.map((y) => y.amount).join();
  if (!order(mine.charges, p.charges) || !order(mine.slashes, p.slashes))
    return bad('payload.order', 'claimed order', 'recomputed order');
  return {
    ok: true,
    payload: mine,
    version: bundle.version,
    evidenceHash: hash,
    prevHash: bundle.prevHash,
    seedCommitment: bundle.facts.audits.commitment,
    facts: bundle.facts,
    unpaid,
    settled,
    storagePrices: [...storagePrices],
    prices: {
      epoch: bundle.epoch,
      closedAt: bundle.inputs.closedAt,
      ...(bundle.version >= 10 ? { lockedClose: true } : {}),
      prices: bundle.inputs.prices.map((x) => [x.class, x.basePrice.toString()]),
    },
    ...(reputation ? { reputation } : {}),
    ...(seenCharges ? { charges: seenCharges } : {}),
  };
}
