/**
 * The task leases that ended since the previous bundle (evidence version 6, migration 0037,
 * docs/validators.md "Ended leases"), read in the closing transaction and marked reported in it:
 * each once, in the order they ended. With them a validator matches every timeout to one lease and
 * sees a timeout left out.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import type { Usage } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import type { ChargeFact, EndedLease, ReputationEntry, SlashFact, UnpaidResult } from './epochFacts.ts';

/**
 * Ended task leases not reported yet, marked reported in `epoch`'s bundle.
 *
 * @example
 * const endedLeases = await readEndedLeases(trx, 12);
 */
export async function readEndedLeases(trx: Transaction<Database>, epoch: number): Promise<EndedLease[]> {
  const rows = await trx
    .selectFrom('assignments')
    .select(['id', 'provider', 'task_id', 'job_id', 'created_at', 'finished_at', 'status', 'error_code'])
    .where('reported_in', 'is', null)
    .where('status', '<>', 'leased')
    .orderBy('finished_at')
    .orderBy('id')
    .execute();
  for (let i = 0; i < rows.length; i += 500)
    await trx
      .updateTable('assignments')
      .set({ reported_in: epoch })
      .where(
        'id',
        'in',
        rows.slice(i, i + 500).map((r) => r.id),
      )
      .execute();
  return rows.map((r) => ({
    lease: r.id as Hex,
    provider: r.provider.toLowerCase(),
    task: r.task_id as Hex,
    job: r.job_id as Hex,
    leasedAt: Number(r.created_at),
    endedAt: Number(r.finished_at ?? r.created_at),
    // As a timeout's cause states it (work/timeoutCause.ts): no code on an ended lease is an expiry.
    code: r.status === 'completed' ? null : (r.error_code ?? 'PLX_LEASE_EXPIRED'),
  }));
}

/**
 * The jobs the journal's timeout causes name: a bundle carries each, so a validator checks every
 * cause's deadline against the client-signed `taskTimeoutSec` (not only when the job is charged).
 *
 * @example
 * for (const id of causeJobs(reputation)) jobIds.add(id);
 */
export function causeJobs(reputation: readonly ReputationEntry[]): string[] {
  const out: string[] = [];
  for (const e of reputation) {
    const c = e.cause;
    if (e.kind === 'timeout' && c && 'lease' in c && typeof c.job === 'string') out.push(c.job);
  }
  return out;
}

/**
 * Version 7: the signed results on the tasks `charges` pay whose lease is not paid here, of a
 * provider neither paid nor slashed on the task (docs/validators.md "Results neither paid nor
 * faulted"): with them a validator re-derives the verdict's outcome for each. Honest bundles carry
 * almost none (a loser is slashed, and its slash carries its statements).
 *
 * @example
 * const unpaidResults = await readUnpaidResults(trx, charges, slashes);
 */
export async function readUnpaidResults(
  trx: Transaction<Database>,
  charges: readonly ChargeFact[],
  slashes: readonly SlashFact[],
): Promise<UnpaidResult[]> {
  const paidLeases = new Set(charges.map((c) => c.assignmentId.toLowerCase()));
  const paidOn = new Set(charges.map((c) => `${c.provider.toLowerCase()}:${c.taskId.toLowerCase()}`));
  const slashedOn = new Set(slashes.map((s) => `${s.provider.toLowerCase()}:${s.taskId.toLowerCase()}`));
  const tasks = [...new Set(charges.map((c) => c.taskId))];
  const out: UnpaidResult[] = [];
  for (let i = 0; i < tasks.length; i += 500) {
    const rows = await trx
      .selectFrom('assignments as a')
      .innerJoin('task_executions as te', 'te.assignment_id', 'a.id')
      .select(['a.id', 'a.provider', 'a.task_id', 'te.output_cid', 'te.result'])
      .where('a.task_id', 'in', tasks.slice(i, i + 500))
      .where('a.status', '=', 'completed')
      .orderBy('a.id')
      .execute();
    for (const r of rows) {
      const on = `${r.provider.toLowerCase()}:${r.task_id.toLowerCase()}`;
      if (paidLeases.has(r.id.toLowerCase()) || paidOn.has(on) || slashedOn.has(on)) continue;
      const signed = JSON.parse(r.result) as { usage: Usage; issuedAt: number; signature: Hex };
      out.push({
        lease: r.id as Hex,
        provider: r.provider.toLowerCase(),
        task: r.task_id as Hex,
        result: {
          outputCid: r.output_cid,
          usage: signed.usage,
          issuedAt: signed.issuedAt,
          signature: signed.signature,
        },
      });
    }
  }
  return out;
}
