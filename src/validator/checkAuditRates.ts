/**
 * Audit rates recomputed (docs/validators.md, "Audit rates and reputation"). A draw's rate is not
 * the coordinator's word: with the reputation journal replayed (reputationReplay.ts), a validator
 * knows the provider's reputation when the draw was made (`basis.at`) and recomputes the rate with
 * the coordinator's own function (`drawRate`): the adaptive rate from the reputation and the
 * task's economic bound, the value floor priced in the network's unit reward, and for a render job
 * the per-job sample within the same lower bounds. A rate that is none of the rates the provider's
 * recent reputations give is `audit[<task>:<provider>].rate` — a coordinator that lowers a
 * provider's audit rate (skips a fault, inflates a record, leaves out the value floor) is refused.
 */

import { CPU_CLASS } from '../coordinator/market/constants.ts';
import { billedUnitsMilli } from '../coordinator/market/priceExecution.ts';
import type { AuditDraw, ChargeFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { SLASH_REWARD_MULTIPLE } from '../coordinator/verification/constants.ts';
import { drawRate } from '../coordinator/verification/drawRate.ts';
import {
  renderFrameUnits,
  renderWorstUnits,
  rewardForUnits,
} from '../coordinator/verification/renderValue.ts';
import { jobSpecSchema } from '../protocol/schemas.ts';
import type { FactDispute } from './checkFacts.ts';
import { REPUTATION_STALE_MS, type ReputationReplay } from './reputationReplay.ts';

type Spec = {
  kind?: unknown;
  inputs?: unknown;
  taskTimeoutSec?: unknown;
  resources?: { gpu?: unknown };
  render?: { width?: unknown; height?: unknown; tiles?: { x?: unknown; y?: unknown } };
};

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

/**
 * Applies the bundle's journal to `replay` (a copy the caller keeps only when it signs) and checks
 * every draw of `facts` with a basis: the unit reward is the network's (constant from the first
 * draw that gave one), a render task's value reward lies between one unit's reward and its job's
 * worst case, and — when the journal was followed from the network's first bundle — the rate is
 * `drawRate` of one of the provider's reputations at the draw. Once the journal has started, a
 * draw made after it without its basis is `.basis`. Null when all hold.
 *
 * @example
 * const replay = kept.clone();
 * const dispute = checkAuditRates(v.facts, replay, epoch);
 * if (!dispute) kept = replay; // when the epoch is signed
 */
export function checkAuditRates(
  facts: Pick<EpochFacts, 'jobs' | 'charges' | 'draws' | 'reputation' | 'slashes'>,
  replay: ReputationReplay,
  epoch: number,
  /** The bundle's `inputs.endsAt`: faults journaled before it must have their slash by now. */
  endsAt?: number,
): FactDispute | null {
  const journal = replay.add(facts.reputation ?? [], epoch);
  if (journal) return journal;
  const unjournaled = slashWithoutFault(facts, replay, epoch);
  if (unjournaled) return unjournaled;
  const unslashed = faultWithoutSlash(facts, replay, endsAt);
  if (unslashed) return unslashed;
  const jobOfTask = new Map<string, string>();
  for (const c of facts.charges) jobOfTask.set(c.taskId.toLowerCase(), c.jobId.toLowerCase());
  const specOf = new Map<string, Spec>();
  // Parsed as intake parsed it (second security review): the signed spec may leave out what the
  // schema defaults (`taskTimeoutSec`, a render's `tiles`), and `BigInt(NaN)` threw, refusing an
  // honest epoch for any client who sent such a spec.
  for (const j of facts.jobs) {
    const parsed = jobSpecSchema.safeParse(j.spec);
    specOf.set(j.jobId.toLowerCase(), (parsed.success ? parsed.data : (j.spec ?? {})) as Spec);
  }
  const paidOf = new Map<string, ChargeFact[]>();
  for (const c of facts.charges) {
    const k = c.taskId.toLowerCase();
    paidOf.set(k, [...(paidOf.get(k) ?? []), c]);
  }
  const frameOf = (task: string) => {
    const paid = paidOf.get(task.toLowerCase()) ?? [];
    const spec = specOf.get(jobOfTask.get(task.toLowerCase()) ?? '');
    return { paid, spec };
  };
  for (const d of facts.draws ?? []) {
    const wrong = checkDraw(d, replay, specOf.get(jobOfTask.get(d.taskId.toLowerCase()) ?? ''), frameOf);
    if (wrong) return wrong;
  }
  return null;
}

/**
 * Every new slash of a compute fault (not a storage fault, which moves no reputation) is matched by
 * a `fault` entry for its provider in this bundle's journal or an earlier one (verdicts.ts and
 * faults.ts write both in one transaction; a slash created after the epoch's end goes into the next
 * bundle, its journal entry into this one): a coordinator cannot slash a provider and keep the
 * fault out of the reputation its audit rate is computed from. Faults are counted from the first
 * bundle with a journal, slashes checked from the next one (slashes pending before the journal have
 * no entry); each slash request id once.
 */
/**
 * The other way round (from the first bundle with timeout causes on, `replay.causesEpoch`): every
 * `fault` entry is matched by a slash of its provider first seen in this bundle or a later one
 * (verdicts.ts and faults.ts insert the slash in the fault's transaction, created no later than the
 * fault's time, so it is in every bundle whose epoch ends after it until it is applied), or by a
 * reinstatement of the provider (a slash withdrawn on review is never in a bundle). A fault older
 * than the bundle's epoch end (with replicas' clock skew) still unmatched is
 * `reputation.fault[<provider>]` — a coordinator cannot put an invented fault into an honest
 * provider's reputation (raising its audit rate, lowering its share of work) without slashing it.
 */
function faultWithoutSlash(
  facts: Pick<EpochFacts, 'reputation' | 'slashes'>,
  replay: ReputationReplay,
  endsAt: number | undefined,
): FactDispute | null {
  if (replay.causesEpoch === undefined || endsAt === undefined) return null;
  // Slash ids are matched once each (a pending slash is in every bundle until it is applied; the
  // ones under this bundle's lowest pending id are applied and never come back).
  const slashes = facts.slashes ?? [];
  const lowest = Math.min(...slashes.map((x) => x.id));
  const seen = new Set(replay.slashesSeen.filter((id) => id >= lowest));
  const fresh = slashes.filter((x) => !seen.has(x.id));
  for (const x of fresh) seen.add(x.id);
  replay.slashesSeen = [...seen].sort((a, b) => a - b);
  const owed = replay.unslashed;
  for (const e of facts.reputation ?? [])
    if (e.kind === 'fault') owed.push({ provider: e.provider.toLowerCase(), at: e.at });
  const settle = (provider: string) => {
    const i = owed.findIndex((o) => o.provider === provider.toLowerCase());
    if (i >= 0) owed.splice(i, 1);
  };
  for (const x of fresh) if (!x.taskId.startsWith('storage:')) settle(x.provider);
  for (const e of facts.reputation ?? []) if (e.kind === 'reinstate') settle(e.provider);
  const late = owed.find((o) => o.at + REPUTATION_STALE_MS < endsAt);
  if (late)
    return bad(
      `reputation.fault[${late.provider}]`,
      `a fault at ${late.at} with no slash by the epoch's end (${endsAt})`,
      'a slash of the provider, or its reinstatement',
    );
  return null;
}

function slashWithoutFault(
  facts: Pick<EpochFacts, 'reputation' | 'slashes'>,
  replay: ReputationReplay,
  epoch: number,
): FactDispute | null {
  const credits = replay.faultCredits;
  for (const e of facts.reputation ?? [])
    if (e.kind === 'fault') credits[e.provider.toLowerCase()] = (credits[e.provider.toLowerCase()] ?? 0) + 1;
  // Each slash request id is checked once, by a seen-set (a slash committed late can carry a lower
  // id than one already seen: "the highest id seen" skipped it). Ids under this bundle's lowest
  // pending one are applied and never come back, so the set keeps only the pending ones. A store
  // from before the set (`lastSlashId`) counts the ids up to it as seen.
  const slashes = facts.slashes ?? [];
  const lowest = Math.min(...slashes.map((x) => x.id));
  const legacy = replay.slashesChecked === undefined ? (replay.lastSlashId ?? -1) : -1;
  const seen = new Set((replay.slashesChecked ?? []).filter((id) => id >= lowest));
  const fresh = slashes.filter((x) => !seen.has(x.id) && x.id > legacy);
  for (const x of slashes) seen.add(x.id);
  replay.slashesChecked = [...seen].sort((a, b) => a - b);
  replay.lastSlashId = undefined;
  if (replay.startEpoch === undefined || epoch <= replay.startEpoch) return null;
  for (const x of fresh) {
    if (x.taskId.startsWith('storage:')) continue;
    const p = x.provider.toLowerCase();
    if (!credits[p])
      return bad(`slash[${x.id}].reputation`, 'no fault in the journal', `a fault entry for ${p}`);
    credits[p]--;
  }
  return null;
}

/** The worst case of one task of a render spec: timeout × billed cores (renderValue.ts). */
function worstUnitsOf(spec: Spec): bigint {
  // The render schema's default where the signed spec left it out; 0 (every value reward out of
  // range: a dispute, not a throw) for a timeout that is no whole number of seconds.
  const timeout = Number(spec.taskTimeoutSec ?? RENDER_DEFAULT_TIMEOUT_SEC);
  if (!(Number.isSafeInteger(timeout) && timeout > 0)) return 0n;
  return renderWorstUnits(timeout, Boolean(spec.resources?.gpu));
}

/** `blender.render`'s default `taskTimeoutSec` (protocol/schemas.ts). */
const RENDER_DEFAULT_TIMEOUT_SEC = 300;

/**
 * A render value reward re-derived (renderValueFloor.ts, docs/validators.md "Render value
 * rewards"): it is `rewardForUnits(R, valueUnits)`; its size is at most the job's worst case, and
 * exactly that with no frame named; a frame named and paid in this bundle (two executions or more:
 * verified) bounds it from below — the size is the largest of the frame's agreeing executions'
 * billed units (a region's scaled to the task), so naming a frame and pricing it smaller lowers the
 * value floor and is refused.
 */
function checkValueUnits(
  name: string,
  b: NonNullable<AuditDraw['basis']>,
  unitReward: bigint,
  valueReward: bigint,
  worstUnits: bigint,
  frameOf: FrameOf,
): FactDispute | null {
  if (!/^[0-9]+$/.test(b.valueUnits ?? ''))
    return bad(`${name}.valueUnits`, b.valueUnits ?? 'none', 'the size the value reward was priced from');
  const units = BigInt(b.valueUnits!);
  const derived = rewardForUnits(unitReward, units);
  if (derived !== valueReward)
    return bad(`${name}.valueReward`, valueReward, `${derived} (rewardForUnits(${unitReward}, ${units}))`);
  if (units > worstUnits)
    return bad(`${name}.valueUnits`, units, `at most ${worstUnits} (the job's worst case)`);
  if (b.valueFrom === undefined) {
    if (units !== worstUnits)
      return bad(`${name}.valueUnits`, units, `${worstUnits} (no verified frame named: the worst case)`);
    return null;
  }
  const { paid, spec } = frameOf(b.valueFrom);
  const r = spec?.render;
  if (paid.length < 2 || !spec || !r) return null;
  const taskPixels =
    (Number(r.width) * Number(r.height)) / (Number(r.tiles?.x ?? 1) * Number(r.tiles?.y ?? 1));
  if (!(Number.isFinite(taskPixels) && taskPixels > 0)) return null; // a spec intake would refuse
  const cls = spec.resources?.gpu ? 'gpu' : CPU_CLASS;
  const frame = renderFrameUnits(
    paid.map((c) => ({
      unitsMilli: billedUnitsMilli(
        cls,
        c.result.usage,
        Number(spec.taskTimeoutSec ?? RENDER_DEFAULT_TIMEOUT_SEC),
      ),
      ...(c.region ? { regionPixels: c.region.pixels } : {}),
    })),
    taskPixels,
    worstUnitsOf(spec),
  );
  if (frame !== undefined && units < frame)
    return bad(`${name}.valueUnits`, units, `at least ${frame} (frame ${b.valueFrom}'s paid executions)`);
  return null;
}

type FrameOf = (task: string) => { paid: ChargeFact[]; spec: Spec | undefined };

function checkDraw(
  d: AuditDraw,
  replay: ReputationReplay,
  spec: Spec | undefined,
  frameOf: FrameOf,
): FactDispute | null {
  const name = `audit[${d.taskId}:${d.provider.toLowerCase()}]`;
  const b = d.basis;
  if (!b) {
    if (replay.startEpoch !== undefined && d.epoch > replay.startEpoch)
      return bad(
        `${name}.basis`,
        'none',
        'the time, unit reward (and value reward) the rate was computed with',
      );
    return null;
  }
  if (!(Number.isSafeInteger(b.at) && /^[0-9]+$/.test(b.unitReward) && BigInt(b.unitReward) > 0n))
    return bad(`${name}.basis`, JSON.stringify(b), 'a time and a positive unit reward');
  replay.unitReward ??= b.unitReward;
  if (b.unitReward !== replay.unitReward) return bad(`${name}.unitReward`, b.unitReward, replay.unitReward);
  const unitReward = BigInt(b.unitReward);
  let render: { valueReward: bigint; tasks: number } | undefined;
  if (spec?.kind === 'blender.render') {
    const tasks = Array.isArray(spec.inputs) ? spec.inputs.length : 0;
    if (b.valueReward === undefined || !/^[0-9]+$/.test(b.valueReward))
      return bad(
        `${name}.valueReward`,
        b.valueReward ?? 'none',
        'the reward the value floor was priced with',
      );
    const valueReward = BigInt(b.valueReward);
    // renderValueFloor.ts: one unit's reward at least, the job's worst case (timeout × billed
    // cores) at most.
    const worstUnits = worstUnitsOf(spec);
    const worst = rewardForUnits(unitReward, worstUnits);
    if (valueReward < unitReward || valueReward > worst)
      return bad(
        `${name}.valueReward`,
        valueReward,
        `between ${unitReward} (one unit) and ${worst} (the job's worst case)`,
      );
    // Re-derived from the size it was priced from (given from version 5; required for draws made
    // after the first bundle with timeout causes — the same upgrade).
    if (b.valueUnits !== undefined || (replay.causesEpoch !== undefined && d.epoch > replay.causesEpoch)) {
      const wrong = checkValueUnits(name, b, unitReward, valueReward, worstUnits, frameOf);
      if (wrong) return wrong;
    }
    render = { valueReward, tasks };
  } else if (b.valueReward !== undefined) {
    return bad(`${name}.valueReward`, b.valueReward, 'none (not a render task)');
  }
  if (d.economics) {
    // The task's size is bounded by its job's signed spec (known when the job is in the bundle).
    const worst = spec?.taskTimeoutSec !== undefined ? worstUnitsOf(spec) : undefined;
    const wrong = checkEconomics(name, d.economics, unitReward, worst);
    if (wrong) return wrong;
  }
  if (!replay.complete || !d.economics) return null;
  const economics = {
    reward: BigInt(d.economics.reward),
    honestCost: BigInt(d.economics.honestCost),
    slashable: BigInt(d.economics.slashable),
  };
  const rates = replay
    .candidates(d.provider, b.at)
    .map((reputation) => drawRate({ reputation, economics, unitReward, ...(render ? { render } : {}) }));
  if (!rates.includes(d.rate))
    return bad(
      `${name}.rate`,
      d.rate,
      `${[...new Set(rates)].join(' or ')} (its reputation replayed to ${b.at}, value floor in units of ${unitReward})`,
    );
  return null;
}

/**
 * A draw's task economics are the coordinator's figures, derived from one task size
 * (work/taskEconomics.ts): R_task = rewardForUnits(R, u) is at least one unit's reward, and
 * F_task = k · R_task is exactly the stake the lease locks — so a coordinator cannot shrink the
 * slashable amount or price a task below one unit to lower its audit rate (security review). The
 * size u is at most the job's worst case from its client-signed spec (timeout × billed cores,
 * `worstUnits`; taskEconomics.ts caps every estimate there), so R_task ≤ rewardForUnits(R, worst):
 * an inflated size (which locks more of the provider's stake and raises its slash) is refused.
 * Left to its word: u below that bound (the job's verified-size estimate reads history the bundle
 * does not carry) and C_task (the cost per unit is a coordinator setting validators do not know;
 * only its sign is checked).
 */
function checkEconomics(
  name: string,
  e: NonNullable<AuditDraw['economics']>,
  unitReward: bigint,
  worstUnits?: bigint,
): FactDispute | null {
  const reward = BigInt(e.reward);
  const cost = BigInt(e.honestCost);
  if (reward < unitReward)
    return bad(`${name}.economics.reward`, e.reward, `at least one unit's reward ${unitReward}`);
  if (worstUnits !== undefined && reward > rewardForUnits(unitReward, worstUnits))
    return bad(
      `${name}.economics.reward`,
      e.reward,
      `at most ${rewardForUnits(unitReward, worstUnits)} (rewardForUnits(${unitReward}, ${worstUnits}): the job's signed worst case)`,
    );
  const lock = reward * SLASH_REWARD_MULTIPLE;
  if (BigInt(e.slashable) !== lock)
    return bad(
      `${name}.economics.slashable`,
      e.slashable,
      `${lock} (${SLASH_REWARD_MULTIPLE} × the task's reward)`,
    );
  if (cost < 0n) return bad(`${name}.economics.honestCost`, e.honestCost, 'not negative');
  return null;
}
