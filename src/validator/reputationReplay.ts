/**
 * Providers' reputations replayed from the journal the evidence bundles carry (docs/validators.md,
 * "Audit rates and reputation"): every change with its time, applied with the coordinator's own
 * pure functions (`updateReputation`, `reinstateReputation`), so a validator knows each provider's
 * reputation at any past moment and can recompute the audit rate of every draw. Pure data; the
 * validator keeps the entries in its store and rebuilds this on start.
 */
import type { ReputationEntry } from '../coordinator/settlement/epochFacts.ts';
import {
  newReputation,
  type ReputationState,
  reinstateReputation,
  reputationStateSchema,
  updateReputation,
} from '../coordinator/verification/reputation.ts';
import type { FactDispute } from './checkFacts.ts';
import type { LeaseLedger } from './checkLeases.ts';

/**
 * How old a reputation a draw may have been computed with: the newest state as of the draw, or one
 * superseded at most this long before it (a replica reads reputations from the shared store on
 * each loop pass, docs/scaling.md "Reputations").
 */
export const REPUTATION_STALE_MS = 60_000;

const KINDS = new Set(['valid', 'agreed', 'fault', 'timeout', 'reinstate', 'state']);

/** One provider's journal, sorted by time, with the state after each entry. */
type History = { entries: ReputationEntry[]; states: ReputationState[] };

/**
 * The replay of one network's journal.
 *
 * @example
 * const r = new ReputationReplay({ complete: true });
 * r.add(bundle.facts.reputation ?? [], 4);
 * r.candidates('0xab…', draw.basis.at); // the states the draw's rate may have used
 */
export class ReputationReplay {
  /** The journal was followed from the network's first bundle: every reputation is known. */
  complete: boolean;
  /** A bundle was applied (the first one decides `complete`). */
  seen: boolean;
  /** The epoch of the first bundle with a journal entry (draws after it must carry their basis). */
  startEpoch: number | undefined;
  /** The network's unit reward R, as the first draw with a basis gave it. */
  unitReward: string | undefined;
  /** The epoch of the first bundle whose timeouts carry causes (checkTimeouts.ts: legacy ones only there). */
  causesEpoch: number | undefined;
  /** Before `slashesChecked`: the highest slash request id seen (read from older stores only). */
  lastSlashId: number | undefined;
  /** Pending slash request ids already checked against the journal (each once: slashWithoutFault). */
  slashesChecked: number[] | undefined;
  /** Per provider, `fault` entries not yet matched by a slash (checkAuditRates.ts). */
  faultCredits: Record<string, number>;
  /** `fault` entries (from the first bundle with causes) whose slash has not appeared yet. */
  unslashed: { provider: string; at: number }[];
  /** Slash request ids already matched to a fault (each pending slash appears in every bundle until applied). */
  slashesSeen: number[];
  /** Ended leases listed and not settled yet, and leases cited (checkLeases.ts; version 6 on). */
  leases: LeaseLedger | undefined;
  /**
   * Since when this validator keeps the execution charges it checked (a bundle's `closedAt`), and
   * whether it accepts an unseen cited charge for its first CHARGE_MEMORY_MS (checkCompensations.ts).
   */
  charges: { from: number; grace: boolean } | undefined;
  /**
   * The close time of the first version-10 bundle applied: a review check whose result was signed
   * before it may lack its draw's basis (drawn by a coordinator before migration 0070;
   * checkReviewCheckers.ts).
   */
  basesFrom: number | undefined;
  /**
   * The close time of the first version-12 bundle applied: a review check whose result was signed
   * from then on records the providers drawn lower than its checker (checkCheckerDraw.ts).
   */
  drawsFrom: number | undefined;
  private readonly byProvider = new Map<string, History>();
  /**
   * Credits (`valid`, `agreed`) by `provider/task` over every journal applied (rebuilt on restore),
   * and per provider the latest credit with no task (journaled before 0057): checkJournalTasks.ts
   * `checkPaidCredits`.
   */
  private readonly credits = new Set<string>();
  private readonly untaskedCredit = new Map<string, number>();

  constructor(init: {
    complete: boolean;
    seen?: boolean;
    startEpoch?: number;
    unitReward?: string;
    causesEpoch?: number;
    lastSlashId?: number;
    faultCredits?: Record<string, number>;
    unslashed?: { provider: string; at: number }[];
    slashesSeen?: number[];
    slashesChecked?: number[];
    leases?: LeaseLedger;
    charges?: { from: number; grace: boolean };
    basesFrom?: number;
    drawsFrom?: number;
  }) {
    this.basesFrom = init.basesFrom;
    this.drawsFrom = init.drawsFrom;
    this.charges = init.charges ? { ...init.charges } : undefined;
    this.slashesChecked = init.slashesChecked ? [...init.slashesChecked] : undefined;
    this.leases = init.leases ? (JSON.parse(JSON.stringify(init.leases)) as LeaseLedger) : undefined;
    this.causesEpoch = init.causesEpoch;
    this.slashesSeen = [...(init.slashesSeen ?? [])];
    this.unslashed = (init.unslashed ?? []).map((u) => ({ ...u }));
    this.faultCredits = { ...(init.faultCredits ?? {}) };
    this.complete = init.complete;
    this.seen = init.seen ?? false;
    this.lastSlashId = init.lastSlashId;
    this.startEpoch = init.startEpoch;
    this.unitReward = init.unitReward;
  }

  /** An independent copy (a bundle is applied to a copy and kept only when the epoch is signed). */
  clone(): ReputationReplay {
    const c = new ReputationReplay(this.meta());
    for (const [p, h] of this.byProvider)
      c.byProvider.set(p, { entries: [...h.entries], states: [...h.states] });
    for (const k of this.credits) c.credits.add(k);
    for (const [p, at] of this.untaskedCredit) c.untaskedCredit.set(p, at);
    return c;
  }

  /**
   * Applies a bundle's journal (`epoch`: the bundle's). A `state` entry (where the journal starts
   * for a provider that had a reputation before it) is accepted only in the first bundle with a
   * journal; an entry earlier than ones already applied (committed late on a replica) is placed in
   * time order and the states after it are recomputed. Returns a dispute for a malformed entry.
   */
  add(entries: readonly ReputationEntry[], epoch: number): FactDispute | null {
    if (entries.length === 0) return null;
    const first = this.startEpoch === undefined || this.startEpoch === epoch;
    for (const [i, e] of entries.entries()) {
      const name = `reputation[${i}]`;
      if (!KINDS.has(e.kind)) return bad(`${name}.kind`, e.kind, 'an outcome, a reinstatement or a state');
      if (!(Number.isSafeInteger(e.at) && e.at >= 0)) return bad(`${name}.at`, e.at, 'a time in ms');
      if (e.kind === 'state') {
        if (!first) return bad(`${name}.kind`, 'state', 'an outcome (the journal started earlier)');
        if (!reputationStateSchema.safeParse(e.state).success)
          return bad(`${name}.state`, JSON.stringify(e.state), 'a reputation state');
      }
      if (e.kind === 'reinstate') {
        if (!(typeof e.faultAt === 'number' && Number.isFinite(e.faultAt)))
          return bad(`${name}.faultAt`, e.faultAt, 'the fault time');
        if (e.before != null && !reputationStateSchema.safeParse(e.before).success)
          return bad(`${name}.before`, JSON.stringify(e.before), 'a reputation state or none');
      }
    }
    this.startEpoch ??= epoch;
    for (const e of entries) this.apply(e);
    return null;
  }

  private apply(entry: ReputationEntry): void {
    const p = entry.provider.toLowerCase();
    if (entry.kind === 'valid' || entry.kind === 'agreed') {
      if (entry.taskId !== undefined) this.credits.add(`${p}/${entry.taskId.toLowerCase()}`);
      else this.untaskedCredit.set(p, Math.max(entry.at, this.untaskedCredit.get(p) ?? entry.at));
    }
    const h = this.byProvider.get(p) ?? { entries: [], states: [] };
    this.byProvider.set(p, h);
    const e = clampReinstate(h, entry);
    // After every entry at or before its time (entries of one time keep their journal order).
    let at = h.entries.length;
    while (at > 0 && h.entries[at - 1]!.at > e.at) at--;
    h.entries.splice(at, 0, e);
    h.states.length = at;
    for (let i = at; i < h.entries.length; i++) {
      const prev = i === 0 ? newReputation(h.entries[i]!.at) : h.states[i - 1]!;
      h.states.push(step(prev, h.entries[i]!));
    }
  }

  /**
   * The states a draw at `at` may have computed its rate with: the newest as of `at` and every
   * state superseded within `staleMs` before it (a newcomer's before the provider's first entry).
   */
  candidates(provider: string, at: number, staleMs = REPUTATION_STALE_MS): ReputationState[] {
    const h = this.byProvider.get(provider.toLowerCase());
    const out: ReputationState[] = [];
    const n = h ? h.entries.filter((e) => e.at <= at).length : 0;
    // State k (k = 0: before any entry) is current from entry k−1's time until entry k's.
    for (let k = n; k >= 0; k--) {
      out.push(k === 0 ? newReputation(at) : h!.states[k - 1]!);
      if (k === 0 || h!.entries[k - 1]!.at < at - staleMs) break;
    }
    return out;
  }

  /**
   * Whether a journal applied (this bundle's or an earlier one's) credits `provider` on `taskId`
   * (`valid` or `agreed` naming the task), or has a credit naming no task (journaled before 0057)
   * at or after `since`: it may be this task's.
   */
  credited(provider: string, taskId: string, since: number): boolean {
    const p = provider.toLowerCase();
    if (this.credits.has(`${p}/${taskId.toLowerCase()}`)) return true;
    return (this.untaskedCredit.get(p) ?? Number.NEGATIVE_INFINITY) >= since;
  }

  /**
   * Whether `provider` has a `fault` entry at or after `at` (a provider caught after a result: its
   * unchecked outputs are run again, checkUnpaidResults.ts).
   */
  faultedSince(provider: string, at: number): boolean {
    const h = this.byProvider.get(provider.toLowerCase());
    return h ? h.entries.some((e) => e.kind === 'fault' && e.at >= at) : false;
  }

  /** What the store keeps besides the journals (see {@link ReputationReplay.restore}). */
  meta(): {
    complete: boolean;
    seen: boolean;
    startEpoch?: number;
    unitReward?: string;
    causesEpoch?: number;
    lastSlashId?: number;
    faultCredits: Record<string, number>;
    unslashed?: { provider: string; at: number }[];
    slashesSeen?: number[];
    slashesChecked?: number[];
    leases?: LeaseLedger;
    charges?: { from: number; grace: boolean };
    basesFrom?: number;
    drawsFrom?: number;
  } {
    return {
      ...(this.basesFrom !== undefined ? { basesFrom: this.basesFrom } : {}),
      ...(this.drawsFrom !== undefined ? { drawsFrom: this.drawsFrom } : {}),
      complete: this.complete,
      seen: this.seen,
      faultCredits: { ...this.faultCredits },
      ...(this.lastSlashId !== undefined ? { lastSlashId: this.lastSlashId } : {}),
      ...(this.startEpoch !== undefined ? { startEpoch: this.startEpoch } : {}),
      ...(this.unitReward !== undefined ? { unitReward: this.unitReward } : {}),
      ...(this.causesEpoch !== undefined ? { causesEpoch: this.causesEpoch } : {}),
      ...(this.unslashed.length ? { unslashed: this.unslashed.map((u) => ({ ...u })) } : {}),
      ...(this.slashesSeen.length ? { slashesSeen: [...this.slashesSeen] } : {}),
      ...(this.slashesChecked ? { slashesChecked: [...this.slashesChecked] } : {}),
      ...(this.charges ? { charges: { ...this.charges } } : {}),
      ...(this.leases ? { leases: JSON.parse(JSON.stringify(this.leases)) as LeaseLedger } : {}),
    };
  }

  /**
   * Rebuilds a replay from its `meta` and the journals of the bundles it applied, in order (they
   * were checked when applied).
   *
   * @example
   * const replay = ReputationReplay.restore(meta, journals);
   */
  static restore(
    meta: ReturnType<ReputationReplay['meta']>,
    journals: readonly ReputationEntry[][],
  ): ReputationReplay {
    const r = new ReputationReplay(meta);
    for (const j of journals) for (const e of j) r.apply(e);
    return r;
  }
}

/**
 * A reinstatement gives back the run of valid results the provider had before its fault
 * (`before.consecutiveValid`); `before` is the coordinator's word, so it is capped at the longest
 * run this replay saw the provider have up to the fault (within the replicas' staleness). An
 * honest coordinator's `before` is a state the provider had, so nothing changes; a forged one
 * cannot hand an ally a record it never earned (second security review: 100,000 from a bare
 * reinstatement).
 */
function clampReinstate(h: History, e: ReputationEntry): ReputationEntry {
  if (e.kind !== 'reinstate' || !e.before) return e;
  const until = (e.faultAt ?? e.at) + REPUTATION_STALE_MS;
  let longest = 0;
  for (const [i, x] of h.entries.entries())
    if (x.at <= until) longest = Math.max(longest, h.states[i]?.consecutiveValid ?? 0);
  if (e.before.consecutiveValid <= longest) return e;
  return { ...e, before: { ...e.before, consecutiveValid: longest } };
}

/** One journal entry applied with the coordinator's own function. */
function step(prev: ReputationState, e: ReputationEntry): ReputationState {
  switch (e.kind) {
    case 'state':
      return reputationStateSchema.parse(e.state);
    case 'reinstate':
      return reinstateReputation(prev, e.before ?? undefined, e.faultAt!, e.at);
    default:
      return updateReputation(prev, e.kind, e.at);
  }
}

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});
