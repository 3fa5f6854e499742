/**
 * Every random draw that moves money, replayed (docs/validators.md, "Audit draws", "Canaries").
 * Audits: each audit-policy task the epoch charges has its recorded draw; the draw's rate is at
 * least the network's floor and the task's economic bound `C / (R + F)` (auditPolicy.ts, from the
 * economics the draw records); the task was audited exactly when its draw fell under its rate with
 * another provider online, and was paid accordingly (one execution without an audit, two agreeing
 * ones with). Canaries: each reported canary was drawn (its draw under its rate). Review checks:
 * the checker's draw and those of the providers drawn lower than it (evidence version 12,
 * checkCheckerDraw.ts, "Review checkers"). Draw values are taken on the coordinator's word until
 * the epoch's seed is revealed; then every draw a bundle published for that epoch (remembered by
 * the validator) is recomputed from the seed, which must open the commitment published two
 * epochs ahead.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import type { Hex } from 'viem';
import type {
  AuditDraw,
  ChargeFact,
  CompensationMemo,
  EpochFacts,
  ReviewCheckBasis,
} from '../coordinator/settlement/epochFacts.ts';
import { economicAuditBound } from '../coordinator/verification/auditPolicy.ts';
import { DEFAULT_AUDIT_PARAMS } from '../coordinator/verification/constants.ts';
import type { VerificationPolicy } from '../coordinator/verification/policy.ts';
import { reviewCheckDraw } from '../coordinator/work/checkerDraw.ts';
import { hashUnit } from '../protocol/rng.ts';
import type { FactDispute } from './checkFacts.ts';

/**
 * A draw a bundle published before its seed was revealed: `hashUnit(seed, kind, provider, key)`
 * (key: the task id of an audit, the slot of a canary) must equal `draw` once the seed is known;
 * a review check's key is `epoch:reviewId` (one provider is drawn for a review in each epoch it is
 * open) and its draw `hashUnit(seed, 'review-check', reviewId, provider)` (work/checkerDraw.ts).
 *
 * @example
 * const r: PublishedDraw = { kind: 'audit', epoch: 7, provider: '0xab…', key: taskId, draw: 0.41, name: 'audit[…]' };
 */
export type PublishedDraw = {
  kind: 'audit' | 'canary' | 'review-check';
  epoch: number;
  provider: string;
  key: string;
  draw: number;
  /** The fact a dispute names. */
  name: string;
};

/**
 * An execution billed at under this many milli-units may have an auditor whose execution priced
 * to zero (no charge entry is posted for a zero charge), so a task audited with a single charge
 * this small is not refused.
 */
const TINY_EXECUTION_MILLI = 100n;

/**
 * The draws `facts` publish, to recompute when their seeds are revealed.
 *
 * @example
 * for (const d of publishedDraws(bundle.facts)) store.rememberDraw(coordinator, d);
 */
export function publishedDraws(
  facts: Pick<EpochFacts, 'draws' | 'canaries'> & Partial<Pick<EpochFacts, 'entries' | 'reputation'>>,
): PublishedDraw[] {
  const out: PublishedDraw[] = [];
  for (const d of facts.draws ?? [])
    out.push({
      kind: 'audit',
      epoch: d.epoch,
      provider: d.provider.toLowerCase(),
      key: d.taskId,
      draw: d.draw,
      name: `audit[${d.taskId}:${d.provider.toLowerCase()}]`,
    });
  for (const c of facts.canaries ?? [])
    if (c.draw)
      out.push({
        kind: 'canary',
        epoch: c.draw.epoch,
        provider: c.provider.toLowerCase(),
        key: c.draw.slot,
        draw: c.draw.draw,
        name: `canary[${c.leaseId}]`,
      });
  for (const { name, provider, basis: b } of citedChecks(facts)) {
    // A basis without its draw record (before version 12) publishes nothing; one with it but no
    // whole epoch is refused (checkDraws, checkCheckerDraw.ts) before anything is kept.
    if (!Array.isArray(b.lower)) continue;
    if (!Number.isSafeInteger(b.epoch) || (b.epoch as number) < 1 || typeof b.reviewId !== 'string')
      throw new Error(`${name}.basis: a review-check draw without a whole epoch and a review id`);
    const key = `${b.epoch}:${b.reviewId}`;
    const drawn = [{ provider, draw: b.draw, name: `${name}.basis` }];
    for (const [i, l] of b.lower.entries())
      drawn.push({ provider: l.provider, draw: l.draw, name: `${name}.basis.lower[${i}]` });
    for (const d of drawn)
      out.push({
        kind: 'review-check',
        epoch: b.epoch as number,
        provider: d.provider.toLowerCase(),
        key,
        draw: d.draw,
        name: d.name,
      });
  }
  return out;
}

/** Every review check a bundle cites with its basis: in compensation memos and reinstatements. */
function citedChecks(
  facts: Partial<Pick<EpochFacts, 'entries' | 'reputation'>>,
): { name: string; provider: string; basis: ReviewCheckBasis }[] {
  const out: { name: string; provider: string; basis: ReviewCheckBasis }[] = [];
  const add = (name: string, c: { provider: string; basis?: ReviewCheckBasis } | undefined) => {
    if (c?.basis && typeof c.provider === 'string') out.push({ name, provider: c.provider, basis: c.basis });
  };
  for (const e of facts.entries ?? []) {
    if (e.kind !== 'compensation' || !e.memo) continue;
    const m = e.memo as CompensationMemo;
    add(`compensation[${e.ref}].check`, m.check);
    add(`compensation[${e.ref}].firstCheck`, m.firstCheck);
  }
  for (const [i, r] of (facts.reputation ?? []).entries()) {
    if (r.kind !== 'reinstate' || !r.review) continue;
    add(`reputation[${i}].review.check`, r.review.check);
    add(`reputation[${i}].review.firstCheck`, r.review.firstCheck);
  }
  return out;
}

/** A published draw recomputed with its revealed seed. */
function recompute(seed: string, p: PublishedDraw): number {
  if (p.kind !== 'review-check') return hashUnit(seed, p.kind, p.provider, p.key);
  return reviewCheckDraw(seed, p.key.slice(p.key.indexOf(':') + 1), p.provider);
}

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

/** One audit draw's own consistency: its rate's bounds and whether it was audited. */
function checkAuditDraw(d: AuditDraw, requireEconomics: boolean): FactDispute | null {
  const name = `audit[${d.taskId}:${d.provider.toLowerCase()}]`;
  if (!(typeof d.draw === 'number' && d.draw >= 0 && d.draw < 1))
    return bad(`${name}.draw`, d.draw, 'in [0, 1)');
  if (!(d.rate >= DEFAULT_AUDIT_PARAMS.floor && d.rate <= 1))
    return bad(`${name}.rate`, d.rate, `between the floor ${DEFAULT_AUDIT_PARAMS.floor} and 1`);
  if (d.economics) {
    const e = d.economics;
    const bound = economicAuditBound({
      cost: BigInt(e.honestCost),
      reward: BigInt(e.reward),
      slashable: BigInt(e.slashable),
    });
    if (d.rate < bound)
      return bad(
        `${name}.rate`,
        d.rate,
        `at least C/(R+F) = ${e.honestCost}/(${e.reward}+${e.slashable}) = ${bound}`,
      );
  } else if (requireEconomics) {
    return bad(`${name}.economics`, 'none', 'the task economics the rate was bounded with');
  }
  const due = d.draw < d.rate && d.otherOnline === true;
  if (due !== d.audited) return bad(`${name}.audited`, d.audited, due);
  return null;
}

/**
 * Checks every draw of `facts` (see the module comment); null when all hold. `policyOf` is the
 * verification policy of a charged job (from its client-signed spec), `commitmentOf` the seed
 * commitment an earlier bundle published, `remembered` the draws earlier bundles published for
 * an epoch, and `epoch` the bundle's own epoch.
 *
 * @example
 * const dispute = checkDraws(facts, { epoch: 9, policyOf, commitmentOf, remembered: (e) => store.draws(url, e) });
 */
export function checkDraws(
  facts: EpochFacts,
  args: {
    epoch: number;
    policyOf: (jobId: string) => VerificationPolicy | undefined;
    commitmentOf: (epoch: number) => Hex | undefined;
    remembered: (epoch: number) => readonly PublishedDraw[];
    /** Seeds earlier bundles revealed: a draw published after its seed is recomputed at once. */
    seedOf?: (epoch: number) => string | undefined;
  },
): FactDispute | null {
  // Audits of the tasks this epoch charges: drawn, bounded, audited as drawn, paid as audited.
  const charged = new Map<string, ChargeFact[]>();
  for (const c of facts.charges) {
    if (args.policyOf(c.jobId)?.kind !== 'audit') continue;
    const list = charged.get(c.taskId.toLowerCase()) ?? [];
    list.push(c);
    charged.set(c.taskId.toLowerCase(), list);
  }
  // Review checks with their draw record (version 12): the seed's epoch is a real one, not after
  // this bundle's, so every such draw is published and recomputed (issue 17, F1).
  for (const { name, basis: b } of citedChecks(facts)) {
    if (!Array.isArray(b.lower)) continue;
    if (!Number.isSafeInteger(b.epoch) || (b.epoch as number) < 1 || (b.epoch as number) > args.epoch)
      return bad(`${name}.basis.epoch`, b.epoch, `a whole number from 1 to ${args.epoch}`);
    if (typeof b.reviewId !== 'string')
      return bad(`${name}.basis.reviewId`, b.reviewId, 'the review drawn for');
  }
  const drawsOf = new Map<string, AuditDraw[]>();
  for (const d of facts.draws ?? []) {
    if (d.epoch > args.epoch)
      return bad(`audit[${d.taskId}:${d.provider}].epoch`, d.epoch, `≤ ${args.epoch}`);
    const list = drawsOf.get(d.taskId.toLowerCase()) ?? [];
    list.push(d);
    drawsOf.set(d.taskId.toLowerCase(), list);
  }
  for (const [taskId, charges] of charged) {
    const draws = drawsOf.get(taskId) ?? [];
    if (draws.length === 0)
      return bad(`audit[${taskId}].draw`, 'none', 'the audit draw of a charged audit-policy task');
    for (const d of draws) {
      const wrong = checkAuditDraw(d, true);
      if (wrong) return wrong;
    }
    const audited = draws.some((d) => d.audited);
    if (!audited && charges.length > 1)
      return bad(`audit[${taskId}].paid`, `${charges.length} executions`, '1 (no audit was drawn)');
    if (audited && charges.length === 1 && BigInt(charges[0]!.unitsMilli) >= TINY_EXECUTION_MILLI)
      return bad(
        `audit[${taskId}].paid`,
        '1 execution',
        'at least 2 agreeing executions (an audit was drawn)',
      );
  }

  // Canaries: each one reported was drawn under its rate (a review's check is not drawn).
  for (const c of facts.canaries ?? []) {
    if (!c.draw) continue;
    const name = `canary[${c.leaseId}]`;
    if (c.draw.epoch > args.epoch) return bad(`${name}.epoch`, c.draw.epoch, `≤ ${args.epoch}`);
    if (!(c.draw.rate > 0 && c.draw.rate <= 1)) return bad(`${name}.rate`, c.draw.rate, 'in (0, 1]');
    if (!(c.draw.draw >= 0 && c.draw.draw < c.draw.rate))
      return bad(`${name}.draw`, c.draw.draw, `under the rate ${c.draw.rate} (an undrawn canary)`);
  }

  // Seeds: the commitment is a hash; a revealed seed opens the commitment seen earlier, and every
  // draw made with it — listed in the reveal, or published by this or an earlier bundle — recomputes.
  const c = facts.audits.commitment;
  if (!/^0x[0-9a-f]{64}$/.test(c.commitment)) return bad('audits.commitment', c.commitment, 'a sha256');
  const mine = publishedDraws(facts);
  for (const r of facts.audits.reveals) {
    if (!/^[0-9a-f]{64}$/.test(r.seed)) return bad(`audits.seed[${r.epoch}]`, r.seed, '32 bytes of hex');
    const opened = `0x${bytesToHex(sha256(hexToBytes(r.seed)))}`;
    const committed = args.commitmentOf(r.epoch);
    if (committed !== undefined && committed !== opened)
      return bad(`audits.seed[${r.epoch}]`, opened, committed);
    for (const d of r.draws) {
      const name = `audit[${d.taskId}:${d.provider.toLowerCase()}]`;
      if (d.epoch !== r.epoch) return bad(`${name}.epoch`, d.epoch, r.epoch);
      const draw = hashUnit(r.seed, 'audit', d.provider.toLowerCase(), d.taskId);
      if (draw !== d.draw) return bad(`${name}.draw`, d.draw, draw);
      const wrong = checkAuditDraw(d, false);
      if (wrong) return wrong;
    }
    for (const p of [...args.remembered(r.epoch), ...mine.filter((m) => m.epoch === r.epoch)]) {
      const draw = recompute(r.seed, p);
      if (draw !== p.draw) return bad(`${p.name}.draw`, p.draw, draw);
    }
  }
  // A review check can be cited after its seed was revealed (its review concluded later).
  for (const p of mine) {
    const seed = facts.audits.reveals.some((r) => r.epoch === p.epoch) ? undefined : args.seedOf?.(p.epoch);
    if (seed === undefined) continue;
    const draw = recompute(seed, p);
    if (draw !== p.draw) return bad(`${p.name}.draw`, p.draw, draw);
  }
  return null;
}

/**
 * The seeds `facts` reveal, to recompute the draws later bundles publish with them.
 *
 * @example
 * store.rememberSeeds(url, revealedSeeds(bundle.facts));
 */
export function revealedSeeds(facts: Pick<EpochFacts, 'audits'>): { epoch: number; seed: string }[] {
  return facts.audits.reveals.map((r) => ({ epoch: r.epoch, seed: r.seed }));
}
