/**
 * A validator's check of the timeouts in an epoch's reputation journal (docs/validators.md,
 * "Timeouts"): a timeout lowers a provider's reputation (its score, its share of work, and raises
 * its audit rate), so it is checked like any fact that moves money. Each one must carry its cause:
 * the task lease that ended without a result — past the deadline the client-signed job fixes, or
 * with the provider's own signed `TaskFailure` — or the canary lease that ran out; a lease this
 * bundle pays a signed result for is no timeout. The first entry that fails is returned, named
 * `reputation[i].…`.
 */
import type { Address, Hex } from 'viem';
import type { EpochFacts, TimeoutCause } from '../coordinator/settlement/epochFacts.ts';
import { verifyPlexusMessage } from '../protocol/eip712.ts';
import { taskIdOf } from '../protocol/ids.ts';
import { jobSpecSchema } from '../protocol/schemas.ts';
import { type LeaseBinding, verifyTaskSigned } from '../protocol/taskRef.ts';
import type { FactDispute } from './checkFacts.ts';
import { REPUTATION_STALE_MS } from './reputationReplay.ts';

/**
 * How far a timeout's time may precede its lease's end: the lease may have been ended on one
 * replica and the verdict journaled on another, each with its own clock (as REPUTATION_STALE_MS).
 */
const CLOCK_SKEW_MS = REPUTATION_STALE_MS;

/** Lease ends that are not the provider's report: ran out, or lost with its session. */
const LEASE_ENDS = new Set(['PLX_LEASE_EXPIRED', 'PLX_LEASE_LOST']);

/**
 * Checks every `timeout` the bundle's journal reports; null when each holds. `causesRequired`:
 * the bundle's format carries causes (version 5 on); `legacyAllowed`: a `{ legacy: true }` cause
 * (a timeout journaled before causes were kept) is accepted — only in the first such bundle;
 * `jobsRequired`: every cause's job is in the bundle (version 6 on), else `.job`.
 *
 * @example
 * const dispute = await checkTimeouts(bundle.facts, bundle.chainId, { causesRequired: true, legacyAllowed: false });
 */
export async function checkTimeouts(
  facts: EpochFacts,
  chainId: number,
  opts: {
    causesRequired: boolean;
    legacyAllowed: boolean;
    jobsRequired?: boolean;
    /** Version 11: each failure's lease bound to its task (protocol/taskRef.ts `bindingsOf`). */
    bind?: (provider: string, issuedAtSec: number) => LeaseBinding;
  },
): Promise<FactDispute | null> {
  if (!opts.causesRequired) return null;
  const paid = new Set(facts.charges.map((c) => c.assignmentId.toLowerCase()));
  const canaries = new Set((facts.canaries ?? []).map((c) => c.leaseId.toLowerCase()));
  const jobs = new Map(facts.jobs.map((j) => [j.jobId.toLowerCase(), j]));
  const entries = facts.reputation ?? [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind !== 'timeout') continue;
    const name = `reputation[${i}]`;
    const said = `timeout of ${e.provider} at ${e.at}`;
    const bad = (what: string, claimed: string, recomputed: string): FactDispute => ({
      fact: `${name}.${what}`,
      claimed: `${said}: ${claimed}`,
      recomputed,
    });
    const c = e.cause as TimeoutCause | undefined;
    if (!c || typeof c !== 'object')
      return bad(
        'cause',
        'no cause',
        "a lease that ended without a result, or the provider's signed failure",
      );
    if ('legacy' in c) {
      if (opts.legacyAllowed) continue;
      return bad('cause', 'legacy', 'a cause (legacy timeouts only in the first bundle with causes)');
    }
    if ('canary' in c) {
      if (!LEASE_ENDS.has(c.code)) return bad('code', String(c.code), 'PLX_LEASE_EXPIRED or PLX_LEASE_LOST');
      if (c.code === 'PLX_LEASE_EXPIRED' && c.endedAt < c.expiresAt)
        return bad('deadline', `canary lease ${c.canary} ended at ${c.endedAt}`, `not before ${c.expiresAt}`);
      if (e.at + CLOCK_SKEW_MS < c.endedAt)
        return bad('at', `before the lease ended (${c.endedAt})`, `at or after ${c.endedAt}`);
      if (canaries.has(c.canary.toLowerCase()))
        return bad('result', `canary lease ${c.canary} reported with a signed result`, 'no result');
      continue;
    }
    if (!('lease' in c)) return bad('cause', JSON.stringify(c), 'a lease or a canary lease');
    if (e.at + CLOCK_SKEW_MS < c.endedAt)
      return bad('at', `before the lease ended (${c.endedAt})`, `at or after ${c.endedAt}`);
    if (paid.has(c.lease.toLowerCase()))
      return bad('paid', `lease ${c.lease} is paid a signed result in this bundle`, 'no result');
    const job = jobs.get(c.job.toLowerCase());
    // Version 6 carries every cause's job: without it the deadline would go unchecked.
    if (!job && opts.jobsRequired)
      return bad('job', `job ${c.job} not in the bundle`, 'the client-signed job its deadline comes from');
    if (job) {
      const spec = jobSpecSchema.safeParse(job.spec);
      if (spec.success) {
        if (spec.data.taskTimeoutSec !== c.timeoutSec)
          return bad('timeoutSec', String(c.timeoutSec), String(spec.data.taskTimeoutSec));
        const n = (spec.data as { inputs?: unknown[] }).inputs?.length ?? 0;
        let ofJob = n === 0;
        for (let k = 0; k < n && !ofJob; k++)
          ofJob = taskIdOf(job.jobId, k).toLowerCase() === c.task.toLowerCase();
        if (!ofJob) return bad('task', `${c.task} of job ${c.job}`, 'a task of the job');
      }
    }
    if (c.failure) {
      const f = c.failure;
      try {
        // Over the lease's opaque reference (protocol v3), or the task id (earlier agents).
        await verifyTaskSigned(
          c.lease,
          c.task,
          (taskId) =>
            verifyPlexusMessage({
              chainId,
              primaryType: 'TaskFailure',
              message: {
                provider: e.provider as Address,
                assignmentId: c.lease,
                taskId,
                reasonHash: f.reasonHash,
                issuedAt: BigInt(f.issuedAt),
              },
              signature: f.signature as Hex,
              expectedSigner: e.provider as Address,
              nowSec: f.issuedAt,
            }),
          opts.bind?.(e.provider, f.issuedAt),
        );
      } catch (err) {
        return bad('failure', err instanceof Error ? err.message : String(err), `signed by ${e.provider}`);
      }
      continue;
    }
    if (!LEASE_ENDS.has(c.code))
      return bad('code', c.code, "PLX_LEASE_EXPIRED, PLX_LEASE_LOST, or the provider's signed failure");
    if (c.code === 'PLX_LEASE_EXPIRED') {
      const deadline = c.leasedAt + (c.timeoutSec ?? 0) * 1000;
      if (c.timeoutSec === null || c.endedAt < deadline)
        return bad('deadline', `lease ${c.lease} expired at ${c.endedAt}`, `not before ${deadline}`);
    }
  }
  return null;
}
