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
import type { EndedLease, ReputationEntry } from './epochFacts.ts';

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
  // Version 7: a lease that ended with a result carries the provider's signed result (dropped when
  // the bundle pays it: its charge carries it, compactLeases.ts).
  const done = rows.filter((r) => r.status === 'completed').map((r) => r.id);
  const results = new Map<string, NonNullable<EndedLease['result']>>();
  for (let i = 0; i < done.length; i += 500) {
    const execs = await trx
      .selectFrom('task_executions')
      .select(['assignment_id', 'output_cid', 'result'])
      .where('assignment_id', 'in', done.slice(i, i + 500))
      .execute();
    for (const e of execs) {
      const r = JSON.parse(e.result) as { usage: Usage; issuedAt: number; signature: Hex };
      results.set(e.assignment_id, {
        outputCid: e.output_cid,
        usage: r.usage,
        issuedAt: r.issuedAt,
        signature: r.signature,
      });
    }
  }
  return rows.map((r) => ({
    lease: r.id as Hex,
    provider: r.provider.toLowerCase(),
    task: r.task_id as Hex,
    job: r.job_id as Hex,
    leasedAt: Number(r.created_at),
    endedAt: Number(r.finished_at ?? r.created_at),
    // As a timeout's cause states it (work/timeoutCause.ts): no code on an ended lease is an expiry.
    code: r.status === 'completed' ? null : (r.error_code ?? 'PLX_LEASE_EXPIRED'),
    ...(results.has(r.id) ? { result: results.get(r.id)! } : {}),
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
