/**
 * A validator's check of the ended task leases a version-6 bundle lists (docs/validators.md, "Ended
 * leases"): every timeout in the journal must cite one of them — ended without a result, by the
 * provider, task, job, times and code the listing gives — and each lease once, across bundles; and
 * a lease that ended without a result after the result its task was paid for was in (an auditor or a
 * replacement that did not deliver) must have had its timeout journaled, or its provider slashed on
 * the task, by the bundle that pays the task. So a coordinator can no longer spare a provider its
 * timeout (keeping its audit rate low), nor count one lease against it twice.
 *
 * The leases listed and not settled yet are kept between bundles ({@link LeaseLedger}, in the
 * reputation replay's store). Pure.
 */
import type { EndedLease, EpochFacts, TimeoutCause } from '../coordinator/settlement/epochFacts.ts';
import type { FactDispute } from './checkFacts.ts';

/** A lease ended this long before a bundle's end is forgotten (its task was never paid). */
export const LEASE_MEMORY_MS = 7 * 24 * 3600_000;

/** Leases a job's failure ended: no verdict follows, so no timeout is owed. */
const CANCELLED = 'PLX_JOB_CANCELLED';

/**
 * What a validator keeps about ended leases between bundles.
 *
 * @example
 * const ledger: LeaseLedger = { from: 1_800_000_000_000, open: [], cited: [] };
 */
export type LeaseLedger = {
  /**
   * The close of the first version-6 bundle applied: a timeout may cite a lease not listed only
   * when it ended before this (it ended before listing started, or before this validator joined),
   * at most {@link LEASE_MEMORY_MS} before, and only in bundles closed within LEASE_MEMORY_MS of it.
   */
  from: number;
  /** Listed leases whose task is not paid yet and that no timeout cited. */
  open: EndedLease[];
  /**
   * Leases cited, so none is cited twice; kept for {@link LEASE_MEMORY_MS} after `at`, the close of
   * the bundle that cited them (`endedAt`: the same, for stores written before `at`, where it was
   * the claimed end).
   */
  cited: { lease: string; endedAt: number; at?: number }[];
};

/**
 * Checks a version-6 bundle's ended leases against its journal and charges. `ledger`: what earlier
 * bundles left (undefined: this is the first version-6 bundle applied). Returns the dispute, or the
 * ledger to keep once the bundle is signed.
 *
 * @example
 * const r = checkLeases(bundle.facts, bundle.inputs, replay.leases);
 * if ('fact' in r) return r; else replay.leases = r;
 */
export function checkLeases(
  facts: EpochFacts,
  inputs: { closedAt: number; endsAt: number },
  ledger: LeaseLedger | undefined,
): FactDispute | LeaseLedger {
  const first = ledger === undefined;
  const from = ledger?.from ?? inputs.closedAt;
  const known = new Map((ledger?.open ?? []).map((l) => [l.lease.toLowerCase(), l]));
  const cited = new Map((ledger?.cited ?? []).map((c) => [c.lease, c.at ?? c.endedAt]));
  const listed = facts.endedLeases ?? [];
  const now = new Set<string>();
  for (const l of listed) {
    const key = l.lease.toLowerCase();
    if (known.has(key) || now.has(key))
      return bad(`endedLease[${key}].listed`, 'listed twice', 'each ended lease once');
    now.add(key);
    known.set(key, { ...l, provider: l.provider.toLowerCase() });
  }
  // Every timeout cites one listed lease that ended without a result, once.
  const entries = facts.reputation ?? [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const c = e.cause as TimeoutCause | undefined;
    if (e.kind !== 'timeout' || !c || !('lease' in c)) continue;
    const key = c.lease.toLowerCase();
    const name = `reputation[${i}].lease`;
    const said = `timeout of ${e.provider} at ${e.at}: lease ${key}`;
    const l = known.get(key);
    if (!l) {
      if (cited.has(key)) return bad(name, `${said} cited again`, 'each lease cited once');
      // Grace for leases that ended before listing started: within LEASE_MEMORY_MS before `from`,
      // and only in bundles closed in the first LEASE_MEMORY_MS of listing (review 2 of issue 17: an
      // invented lease with an old claimed end was accepted forever, and forgotten at once).
      const graceful =
        inputs.closedAt < from + LEASE_MEMORY_MS &&
        c.endedAt >= from - LEASE_MEMORY_MS &&
        (first || c.endedAt < from);
      if (now.has(key) || !graceful)
        return bad(name, `${said}, not listed as ended without a result`, 'a listed lease, cited once');
      cited.set(key, inputs.closedAt);
      continue;
    }
    if (l.code === null) return bad(name, `${said}, listed as ended with a result`, 'a lease without one');
    const want: [string, unknown, unknown][] = [
      ['provider', e.provider.toLowerCase(), l.provider],
      ['task', c.task.toLowerCase(), l.task.toLowerCase()],
      ['job', c.job.toLowerCase(), l.job.toLowerCase()],
      ['leasedAt', c.leasedAt, l.leasedAt],
      ['endedAt', c.endedAt, l.endedAt],
      ['code', c.code, l.code],
    ];
    for (const [field, claimed, listedAs] of want)
      if (claimed !== listedAs) return bad(name, `${said}, ${field} ${String(claimed)}`, String(listedAs));
    known.delete(key);
    cited.set(key, inputs.closedAt);
    // The provider's earlier leases on the task end in this one timeout (one outcome per execution).
    for (const [k, o] of known)
      if (o.provider === l.provider && o.task === l.task && o.code !== null && o.endedAt <= l.endedAt)
        known.delete(k);
  }
  // A task this bundle pays: its verdict is in, so every lease that ended without a result after
  // the paid result it was leased behind owes its timeout (or its provider's slash on the task).
  const paidOf = new Map<string, { providers: Set<string>; leases: Set<string> }>();
  for (const ch of facts.charges) {
    const t = ch.taskId.toLowerCase();
    const p = paidOf.get(t) ?? { providers: new Set(), leases: new Set() };
    p.providers.add(ch.provider.toLowerCase());
    p.leases.add(ch.assignmentId.toLowerCase());
    paidOf.set(t, p);
  }
  const slashed = new Set(facts.slashes.map((s) => `${s.provider.toLowerCase()}:${s.taskId.toLowerCase()}`));
  for (const [task, paid] of paidOf) {
    const onTask = [...known.values()].filter((l) => l.task.toLowerCase() === task);
    const results = onTask.filter((l) => l.code === null && paid.leases.has(l.lease.toLowerCase()));
    for (const l of onTask) {
      if (l.code === null || l.code === CANCELLED || paid.providers.has(l.provider)) continue;
      if (slashed.has(`${l.provider}:${task}`)) continue;
      const behind = results.find((r) => r.endedAt <= l.leasedAt);
      if (!behind) continue;
      return bad(
        `endedLease[${l.lease.toLowerCase()}].timeout`,
        `lease of ${l.provider} on task ${task} ended ${l.code} at ${l.endedAt} (leased at ${l.leasedAt}, after the paid result of lease ${behind.lease}); the task is paid and no timeout cites it`,
        `a timeout of ${l.provider} citing the lease, or a slash of ${l.provider} on the task`,
      );
    }
    for (const l of onTask) known.delete(l.lease.toLowerCase());
  }
  const horizon = inputs.endsAt - LEASE_MEMORY_MS;
  return {
    from,
    open: [...known.values()].filter((l) => l.endedAt >= horizon),
    // Kept by the bundle that cited them (not by the claimed end, which the coordinator chooses).
    cited: [...cited].filter(([, at]) => at >= horizon).map(([lease, at]) => ({ lease, endedAt: at, at })),
  };
}

const bad = (fact: string, claimed: string, recomputed: string): FactDispute => ({
  fact,
  claimed,
  recomputed,
});
