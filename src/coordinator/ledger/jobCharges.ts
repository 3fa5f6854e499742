/**
 * What jobs actually cost their client: the sum of the `charge` entries the market posted for each
 * job's accepted executions (docs/market.md), read from the ledger, summed as bigints (SQLite's
 * integers overflow at 9.2 PLX), in total and per task (the entry's memo names its task).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Charges of one job, in PLX base units. */
export type JobCharges = { total: bigint; byTask: Map<string, bigint> };

/**
 * The charges of each job in `jobIds` (a job without any is absent from the map).
 *
 * @example const cost = (await jobCharges(db, [jobId])).get(jobId)?.total ?? 0n;
 */
export async function jobCharges(
  db: Kysely<Database>,
  jobIds: readonly string[],
): Promise<Map<string, JobCharges>> {
  const out = new Map<string, JobCharges>();
  if (jobIds.length === 0) return out;
  const rows = await db
    .selectFrom('ledger_entries as e')
    .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
    .select(['e.job_id', 'e.memo', 'p.amount'])
    .where('e.job_id', 'in', [...jobIds])
    .where('e.kind', '=', 'charge')
    // The client's debit: the one posting to its unsettled account (providers and fees are credits).
    .where('p.account', 'like', 'client:%:unsettled')
    .execute();
  for (const r of rows) {
    if (!r.job_id) continue;
    const c = out.get(r.job_id) ?? { total: 0n, byTask: new Map<string, bigint>() };
    const amount = BigInt(r.amount);
    c.total += amount;
    const taskId = taskOfMemo(r.memo);
    if (taskId) c.byTask.set(taskId, (c.byTask.get(taskId) ?? 0n) + amount);
    out.set(r.job_id, c);
  }
  return out;
}

function taskOfMemo(memo: string): string | undefined {
  try {
    const m = JSON.parse(memo) as { taskId?: unknown };
    return typeof m.taskId === 'string' ? m.taskId : undefined;
  } catch {
    return undefined;
  }
}
