/**
 * A validator's cross-check of the reputation journal's task ids against the bundle's facts on the
 * same task (evidence version 9, migration 0057; docs/validators.md "Journal task ids"). The journal
 * moves money indirectly — every audit rate is recomputed from the replayed reputations — so a
 * credit must rest on the fact it claims to:
 *
 * - a `timeout` names its cause's task;
 * - a canary reported in this bundle: a `valid` on its task for its provider needs the canary
 *   `passed`, a `fault` needs it not passed; and a `passed` canary needs its `valid` entry;
 * - a job task this bundle pays (not a render job, whose region auditors may be billed nothing):
 *   a `valid` or `agreed` on it is of a provider paid on it (the verdict that credits a provider
 *   is the one that pays it, in the same transaction).
 *
 * Entries without a task (a reinstatement, a review's outcomes, a capability fault, any entry
 * journaled before 0057) are replayed as before. Pure.
 */
import type { EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../protocol/constants.ts';
import type { FactDispute } from './checkFacts.ts';
import type { ReputationReplay } from './reputationReplay.ts';

/**
 * Checks the journal's task ids; null when they agree with the facts.
 *
 * @example
 * const wrong = checkJournalTasks(bundle.facts);
 * if (wrong) refuse(wrong);
 */
export function checkJournalTasks(facts: EpochFacts): FactDispute | null {
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const key = (provider: string, task: string) => `${provider.toLowerCase()}/${task.toLowerCase()}`;
  const canaries = new Map<string, EpochFacts['canaries'] extends (infer C)[] | undefined ? C : never>();
  for (const c of facts.canaries ?? []) if (c.draw !== null) canaries.set(key(c.provider, c.taskId), c);
  const renderJobs = new Set(
    facts.jobs
      .filter((j) => (j.spec as { kind?: string } | null)?.kind === 'blender.render')
      .map((j) => j.jobId.toLowerCase()),
  );
  const paid = new Map<string, Set<string>>();
  for (const c of facts.charges) {
    if (renderJobs.has(c.jobId.toLowerCase())) continue;
    const t = c.taskId.toLowerCase();
    paid.set(t, (paid.get(t) ?? new Set()).add(c.provider.toLowerCase()));
  }
  const credited = new Set<string>();
  // A `valid` journaled before 0057 names no task: it may be the canary's (a coordinator upgraded
  // with canaries in flight).
  const untasked = new Set(
    (facts.reputation ?? [])
      .filter((e) => e.kind === 'valid' && e.taskId === undefined)
      .map((e) => e.provider.toLowerCase()),
  );
  for (const [i, e] of (facts.reputation ?? []).entries()) {
    const name = `reputation[${i}].taskId`;
    if (e.kind === 'timeout' && e.cause && 'task' in e.cause && e.taskId !== undefined) {
      if (e.taskId.toLowerCase() !== e.cause.task.toLowerCase())
        return bad(name, e.taskId, `the timeout's cause's task ${e.cause.task}`);
    }
    if (e.taskId === undefined) continue;
    const k = key(e.provider, e.taskId);
    const canary = canaries.get(k);
    if (canary && e.kind === 'valid' && canary.status !== 'passed')
      return bad(name, `valid on canary ${canary.leaseId}`, `the canary ${canary.status}: no credit`);
    if (canary && e.kind === 'fault' && canary.status === 'passed')
      return bad(name, `fault on canary ${canary.leaseId}`, 'the canary passed: no fault');
    if (canary && e.kind === 'valid') credited.add(k);
    const payees = paid.get(e.taskId.toLowerCase());
    if (payees && (e.kind === 'valid' || e.kind === 'agreed') && !payees.has(e.provider.toLowerCase()))
      return bad(
        name,
        `${e.kind} for ${e.provider}`,
        `a provider paid on the task: ${[...payees].join(', ')}`,
      );
  }
  for (const [k, c] of canaries)
    if (c.status === 'passed' && !credited.has(k) && !untasked.has(c.provider.toLowerCase()))
      return bad(
        `canary[${c.leaseId}].reputation`,
        'no valid entry',
        `the passed canary's valid entry for ${c.provider}`,
      );
  return null;
}

/**
 * Version 10, with a complete journal replay: every provider a bundle pays on a task paid to two
 * or more providers (not a render job) is credited on that task — a `valid` or `agreed` naming it
 * in this bundle's journal or in any earlier bundle's the replay applied. The verdict that pays
 * them journals the credits in the same transaction (work/verdicts.ts: a group of agreeing
 * executions is `valid` or `agreed`; only a lone `unverified` execution is paid with no entry), and
 * the entries are reported by the first close after it — the charge's own epoch or an earlier one
 * (a verdict after epoch e's clock end but before e closed journals into bundle e and charges
 * into e + 1), never a later one (the close and the verdict's pricing take turns,
 * market/epochCloseLock.ts). A credit with no task (journaled before 0057) at or after the
 * result counts. `replay` has this bundle's journal applied. Returns the first charge whose
 * payee has no credit anywhere.
 *
 * @example
 * const wrong = checkPaidCredits(bundle.facts, replay);
 */
export function checkPaidCredits(facts: EpochFacts, replay: ReputationReplay): FactDispute | null {
  const renderJobs = new Set(
    facts.jobs
      .filter((j) => (j.spec as { kind?: string } | null)?.kind === 'blender.render')
      .map((j) => j.jobId.toLowerCase()),
  );
  const byTask = new Map<string, EpochFacts['charges']>();
  for (const c of facts.charges) {
    if (renderJobs.has(c.jobId.toLowerCase())) continue;
    const t = c.taskId.toLowerCase();
    byTask.set(t, [...(byTask.get(t) ?? []), c]);
  }
  for (const [task, charges] of byTask) {
    if (new Set(charges.map((c) => c.provider.toLowerCase())).size < 2) continue;
    for (const c of charges) {
      const since = c.result.issuedAt * 1000 - MAX_MESSAGE_SKEW_SEC * 1000;
      if (!replay.credited(c.provider, task, since))
        return {
          fact: `charge[${c.ref}].reputation`,
          claimed: `paid ${c.provider} on ${task} with no credit in any bundle's journal`,
          recomputed: `a valid or agreed entry for ${c.provider} naming ${task} (this bundle or an earlier one)`,
        };
    }
  }
  return null;
}
