import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * The kinds of entry only closing an epoch posts (epochComputation.ts). Re-closing a reopened
 * epoch (reopenEpochs.ts) reads the books as they stood before those were posted.
 */
export const EPOCH_CLOSE_KINDS = ['settle-charges', 'bad-debt', 'slash', 'emission'] as const;

/**
 * Account balances (sum of postings, exact bigint arithmetic: SQLite's integers overflow at
 * 9.2 PLX), optionally only over entries of epochs ≤ `maxEpoch`, of one `kind`, or of accounts
 * starting with `prefix`; with `beforeCloseOf: e`, leaving out what the closes of epochs ≥ e posted.
 *
 * @example
 * const b = await readBalances(db, { prefix: 'provider:', maxEpoch: 4 });
 */
export async function readBalances(
  db: Kysely<Database> | Transaction<Database>,
  filter: {
    maxEpoch?: number;
    epoch?: number;
    prefix?: string;
    account?: string;
    kind?: string;
    jobId?: string;
    /** Leave out the entries the closes of epochs ≥ this one posted (a re-close reads around them). */
    beforeCloseOf?: number;
  } = {},
): Promise<Map<string, bigint>> {
  let q = db
    .selectFrom('ledger_postings as p')
    .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
    .select(['p.account', 'p.amount']);
  if (filter.maxEpoch !== undefined) q = q.where('e.epoch', '<=', filter.maxEpoch);
  if (filter.epoch !== undefined) q = q.where('e.epoch', '=', filter.epoch);
  if (filter.kind !== undefined) q = q.where('e.kind', '=', filter.kind);
  if (filter.jobId !== undefined) q = q.where('e.job_id', '=', filter.jobId);
  if (filter.account !== undefined) q = q.where('p.account', '=', filter.account);
  if (filter.prefix !== undefined) q = q.where('p.account', 'like', `${filter.prefix}%`);
  const from = filter.beforeCloseOf;
  if (from !== undefined)
    q = q.where((eb) => eb.or([eb('e.epoch', '<', from), eb('e.kind', 'not in', EPOCH_CLOSE_KINDS)]));
  const out = new Map<string, bigint>();
  for (const r of await q.execute()) out.set(r.account, (out.get(r.account) ?? 0n) + BigInt(r.amount));
  return out;
}
