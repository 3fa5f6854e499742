/**
 * A held client's delivered outputs are billed at once (docs/market.md, "Admission (escrow)";
 * docs/security.md, "Deferred bills and withdrawals"). An audited job's unchecked outputs are
 * normally billed only when the job ends (deferredBilling.ts), so that a task reopened because its
 * provider was later caught is never charged. But the escrow contract lets a client take its money
 * back once the withdrawal delay has passed: a client that had outputs delivered, then asked to
 * withdraw and kept its job open (a task held back, a far deadline), left with the outputs and its
 * whole escrow. So when a client is held (its escrow no longer covers its open jobs: a withdrawal
 * was requested), every delivered output of its open jobs whose bill waits for the job's end is
 * billed now, at the next escrow re-read; the charges are settled at the next epoch close, within
 * the withdrawal delay. An output billed this way is final, like an ended job's: it is not reopened
 * if its provider is caught later ({@link NOT_BILLED_YET}, used by work/recheckCaught.ts), so the
 * rule stays that a reopened task is never charged and its caught provider never paid.
 */
import { type Kysely, type SqlBool, sql, type Transaction } from 'kysely';
import type { JobSpec } from '../../protocol/schemas.ts';
import { dialectOf } from '../store/dialect.ts';
import type { Database } from '../store/schema.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { defersBilling } from './deferredBilling.ts';

type OnVerdict = (
  trx: Transaction<Database>,
  jobId: string,
  verdict: Verdict,
  known: { jobEnded: true },
) => Promise<void>;

/**
 * A filter on a `tasks` row aliased `t`: none of the task's executions has a charge posted yet.
 * Only a held client's early-billed outputs ({@link billHeldClient}) are both unchecked and charged
 * while their job runs; work/recheckCaught.ts leaves them alone.
 */
export const NOT_BILLED_YET = sql<SqlBool>`NOT EXISTS (SELECT 1 FROM task_executions bx JOIN ledger_entries be ON be.ref = 'exec:' || bx.assignment_id WHERE bx.task_id = t.id)`;

/**
 * Bills, in one transaction, every delivered output of `client`'s open jobs whose bill waits for
 * its job's end (an accepted, unverified task of an audited job) and has no charge yet, through the
 * market's `onVerdict` as if the job had ended (the same prices, caps and median billing). Returns
 * how many tasks were billed. Called for each held client at every escrow re-read.
 *
 * @example const n = await billHeldClient(db, '0xabc…', market.onVerdict);
 */
export async function billHeldClient(
  db: Kysely<Database>,
  client: string,
  onVerdict: OnVerdict,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    let q = trx
      .selectFrom('tasks as t')
      .innerJoin('task_verifications as v', 'v.task_id', 't.id')
      .innerJoin('jobs as j', 'j.id', 't.job_id')
      .select(['t.id', 't.job_id', 'v.verdict', 'j.spec'])
      .where('j.client', '=', client.toLowerCase())
      .where('j.status', 'in', ['queued', 'running'])
      .where('j.max_price', 'is not', null)
      .where('t.status', '=', 'completed')
      .where('v.status', '=', 'accepted')
      .where(NOT_BILLED_YET)
      .orderBy('t.job_id')
      .orderBy('t.idx');
    // PostgreSQL: a concurrent reopen (recheckCaught.ts) of these tasks waits for this bill.
    if (dialectOf(trx) === 'postgres') q = q.forUpdate('t');
    const rows = await q.execute();
    let billed = 0;
    for (const r of rows) {
      const spec = JSON.parse(r.spec) as JobSpec;
      const verdict = JSON.parse(r.verdict ?? '{}') as Verdict;
      if (verdict.verified !== false || !defersBilling(spec, verdict)) continue;
      await onVerdict(trx, r.job_id, verdict, { jobEnded: true });
      billed++;
    }
    return billed;
  });
}
