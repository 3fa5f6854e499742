/**
 * Verdicts that fault a provider must have their fault (docs/validators.md "Results neither paid
 * nor faulted"). A coordinator that spares a provider whose result lost a verdict leaves out both
 * its `fault` and its slash: the bundle then showed nothing to compare ("undecided"). From evidence
 * version 7 on, the bundle that pays a task carries the signed result of every lease on it that
 * ended with a result and is not paid, of a provider neither paid nor slashed on the task
 * (`facts.unpaidResults`, compactLeases.ts), so a validator re-derives the verdict's outcome:
 *
 * - `unpaidResults` (pure): the results on an inference task this bundle pays (its verdict is in,
 *   accepted) whose provider is neither paid nor slashed on the task — listed now or in an earlier
 *   bundle (the lease ledger, checkLeases.ts) — except a result whose provider was faulted after it
 *   (work/recheckCaught.ts runs a caught provider's unchecked outputs again: the task's new verdict
 *   does not judge the old result, and the provider already has its fault and slash);
 * - `checkLeaseResults` (facts): each unpaid result the bundle carries is signed by its provider
 *   over its lease and task, and each of those unpaid results of a version-7 bundle is there;
 * - `checkUnpaidVerdicts` (outputs): each unpaid result agrees with the paid output within the
 *   coordinator's tolerance (an agreeing result priced to zero owes nothing). One that differs was
 *   outvoted by the accepted verdict (verification/taskVerification.ts faults every revealed
 *   execution outside the accepted group) and is `endedLease[<lease>].fault`;
 * - `checkCanaryFaults` (facts): a canary reported `failed` (its status is re-derived from the
 *   outputs by checkVerdicts.ts) has its provider's slash on the canary's task in the same bundle
 *   (work/faults.ts `recordFault` writes both in the canary's transaction).
 *
 * The slash's own `fault` journal entry is required by checkAuditRates.ts (`slashWithoutFault`).
 */
import type { EndedLease, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { compareTensorSets } from '../coordinator/verification/compareTensors.ts';
import type { LeaseBinding } from '../protocol/taskRef.ts';
import type { TensorSet } from '../protocol/tensorSet.ts';
import { signedBy } from './checkCompensations.ts';
import type { FactDispute } from './checkFacts.ts';

type Facts = Pick<EpochFacts, 'jobs' | 'charges' | 'slashes'> &
  Partial<Pick<EpochFacts, 'endedLeases' | 'unpaidResults'>>;

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

/**
 * The leases with a result on an inference task `facts` pay whose provider is neither paid nor
 * slashed on it, listed by this bundle or (`earlier`, the lease ledger's open leases) an earlier
 * one, each with its signed result when the bundle's `unpaidResults` has it.
 *
 * @example
 * const unpaid = unpaidResults(bundle.facts, replay.leases?.open ?? []);
 */
export function unpaidResults(
  facts: Facts & { reputation?: EpochFacts['reputation'] },
  earlier: readonly EndedLease[] = [],
  /** Whether the provider has a fault at or after a time (default: in this bundle's journal). */
  faultedSince: (provider: string, at: number) => boolean = (provider, at) =>
    (facts.reputation ?? []).some(
      (e) => e.kind === 'fault' && e.provider.toLowerCase() === provider.toLowerCase() && e.at >= at,
    ),
): EndedLease[] {
  const inference = new Set(
    facts.jobs
      .filter((j) => (j.spec as { kind?: unknown } | null)?.kind === 'onnx.infer')
      .map((j) => j.jobId.toLowerCase()),
  );
  const paid = new Map<string, { providers: Set<string>; leases: Set<string> }>();
  for (const c of facts.charges) {
    if (!inference.has(c.jobId.toLowerCase())) continue;
    const t = c.taskId.toLowerCase();
    const p = paid.get(t) ?? { providers: new Set(), leases: new Set() };
    p.providers.add(c.provider.toLowerCase());
    p.leases.add(c.assignmentId.toLowerCase());
    paid.set(t, p);
  }
  const slashed = new Set(facts.slashes.map((s) => `${s.provider.toLowerCase()}:${s.taskId.toLowerCase()}`));
  const shown = new Map((facts.unpaidResults ?? []).map((u) => [u.lease.toLowerCase(), u]));
  const out: EndedLease[] = [];
  const seen = new Set<string>();
  for (const l of [...(facts.endedLeases ?? []), ...earlier]) {
    const task = l.task.toLowerCase();
    const p = paid.get(task);
    const provider = l.provider.toLowerCase();
    if (!p || l.code !== null || seen.has(l.lease.toLowerCase())) continue;
    seen.add(l.lease.toLowerCase());
    if (p.leases.has(l.lease.toLowerCase()) || p.providers.has(provider)) continue;
    if (slashed.has(`${provider}:${task}`) || faultedSince(provider, l.endedAt)) continue;
    const u = shown.get(l.lease.toLowerCase());
    const { result: _unjoined, ...listed } = l;
    out.push(
      u && u.provider.toLowerCase() === provider && u.task.toLowerCase() === task
        ? { ...listed, result: u.result }
        : listed,
    );
  }
  return out;
}

/**
 * Version 7: every unpaid result the bundle carries is signed by its provider (over the lease and
 * task), and every lease of `unpaid` has its result there.
 *
 * @example
 * const dispute = await checkLeaseResults(bundle.facts, chainId, unpaidResults(bundle.facts));
 */
export async function checkLeaseResults(
  facts: Facts,
  chainId: number,
  unpaid: readonly EndedLease[],
  /** Version 11: each result's lease bound to its task (protocol/taskRef.ts `bindingsOf`). */
  bind?: (provider: string, issuedAtSec: number) => LeaseBinding,
): Promise<FactDispute | null> {
  for (const l of unpaid)
    if (!l.result)
      return bad(
        `endedLease[${l.lease.toLowerCase()}].result`,
        `a result of ${l.provider} on task ${l.task} neither paid nor slashed, not shown`,
        'its signed result (evidence version 7)',
      );
  for (const u of facts.unpaidResults ?? []) {
    const err = await signedBy(
      chainId,
      u.provider,
      { assignmentId: u.lease, taskId: u.task, ...u.result },
      bind,
    );
    if (err)
      return bad(`endedLease[${u.lease.toLowerCase()}].result.signature`, err, `signed by ${u.provider}`);
  }
  return null;
}

/**
 * Every canary reported `failed` has its provider's slash on the canary's task in `facts`.
 *
 * @example
 * const dispute = checkCanaryFaults(bundle.facts);
 */
export function checkCanaryFaults(facts: Pick<EpochFacts, 'canaries' | 'slashes'>): FactDispute | null {
  const slashed = new Set(facts.slashes.map((s) => `${s.provider.toLowerCase()}:${s.taskId.toLowerCase()}`));
  for (const c of facts.canaries ?? []) {
    if (c.status !== 'failed') continue;
    if (slashed.has(`${c.provider.toLowerCase()}:${c.taskId.toLowerCase()}`)) continue;
    return bad(
      `canary[${c.leaseId}].fault`,
      `a failed canary of ${c.provider} with no slash`,
      `a fault and a slash of ${c.provider} on task ${c.taskId}`,
    );
  }
  return null;
}

/**
 * Re-derives the outcome of each unpaid result: it must agree with the output its task was paid
 * for. `output` reads and decodes a blob (or returns a refused blob's dispute), as in checkVerdicts.ts.
 *
 * @example
 * const dispute = await checkUnpaidVerdicts(unpaid, facts, output);
 */
export async function checkUnpaidVerdicts(
  unpaid: readonly EndedLease[],
  facts: Pick<EpochFacts, 'charges'>,
  output: (cid: string, fact: string) => Promise<TensorSet | FactDispute>,
): Promise<FactDispute | null> {
  const isDispute = (x: TensorSet | FactDispute): x is FactDispute =>
    typeof (x as FactDispute).fact === 'string' && typeof (x as FactDispute).recomputed === 'string';
  for (const l of unpaid) {
    if (!l.result) continue;
    const paid = facts.charges.find((c) => c.taskId.toLowerCase() === l.task.toLowerCase());
    if (!paid) continue;
    const name = `endedLease[${l.lease.toLowerCase()}]`;
    const accepted = await output(paid.result.outputCid, name);
    if (isDispute(accepted)) return accepted;
    const mine = await output(l.result.outputCid, name);
    if (isDispute(mine)) return mine;
    const cmp = compareTensorSets(mine, accepted);
    if (!cmp.ok)
      return bad(
        `${name}.fault`,
        `the result ${l.result.outputCid} of ${l.provider} on task ${l.task}: neither paid nor slashed`,
        `outvoted by the paid output ${paid.result.outputCid} (${cmp.reasons.slice(0, 2).join('; ')}): a fault and a slash of ${l.provider}`,
      );
  }
  return null;
}
