import type { Kysely, Transaction } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import { dialectOf, type StoreDialect } from '../store/dialect.ts';
import { queryTemplate, type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { addToBalances } from './ledgerBalances.ts';

/**
 * Entries of the storage network (docs/storage.md, "Money"): a term's escrow held at put, a
 * holder's proven GiB-epochs paid from it, a retrieval receipt redeemed, the unused rest released,
 * a repairer paid for a rebuilt piece.
 */
export type StorageEntryKind =
  | 'storage-hold'
  | 'storage-payment'
  | 'storage-retrieval'
  | 'storage-release'
  | 'storage-repair';

/** One posting: debit positive, credit negative, in integer base units. */
export type Posting = { account: string; amount: bigint };

/** A journal entry to append. */
export type EntryInput = {
  /** Idempotency key: posting the same ref twice is a no-op (crash-safe replays). */
  ref: string;
  kind:
    | 'charge'
    | 'settle-charges'
    | 'bad-debt'
    | 'slash'
    | 'emission'
    | 'dataset-charge'
    | 'compensation'
    | StorageEntryKind;
  epoch: number;
  jobId?: string;
  memo?: Record<string, unknown>;
  postings: readonly Posting[];
};

/**
 * Checks that an entry balances: at least two postings, no zero amount, sum exactly zero.
 * Throws PLX_LEDGER_UNBALANCED otherwise.
 *
 * @example
 * assertBalanced([{ account: 'a', amount: 5n }, { account: 'b', amount: -5n }]);
 */
export function assertBalanced(postings: readonly Posting[]): void {
  if (postings.length < 2)
    throw new PlexusError('PLX_LEDGER_UNBALANCED', 'an entry needs at least two postings');
  let sum = 0n;
  for (const p of postings) {
    if (typeof p.amount !== 'bigint' || p.amount === 0n)
      throw new PlexusError('PLX_LEDGER_UNBALANCED', `posting to ${p.account} has no amount`);
    sum += p.amount;
  }
  if (sum !== 0n)
    throw new PlexusError('PLX_LEDGER_UNBALANCED', `entry does not balance: postings sum to ${sum}`, {
      details: { sum: sum.toString() },
    });
}

/**
 * Appends one balanced entry in the caller's transaction. Returns false (and writes nothing) when
 * an entry with the same ref exists, so a replay after a crash never doubles money. Postings with
 * the same account are merged; postings that net to zero are dropped.
 *
 * @example
 * await postEntry(trx, { ref: `exec:${assignmentId}`, kind: 'charge', epoch: 3, postings });
 */
export async function postEntry(
  trx: Transaction<Database> | Kysely<Database>,
  entry: EntryInput,
  now: number = Date.now(),
  /** The store's raw connection, to run the inserts as templates (store/queryTemplate.ts). */
  raw?: RawConnection,
): Promise<boolean> {
  // The postings and the balances they change (ledgerBalances.ts) in one transaction, always.
  if (!trx.isTransaction) return trx.transaction().execute((t) => postEntry(t, entry, now, raw));
  const merged = new Map<string, bigint>();
  for (const p of entry.postings) merged.set(p.account, (merged.get(p.account) ?? 0n) + p.amount);
  const postings = [...merged].filter(([, a]) => a !== 0n).map(([account, amount]) => ({ account, amount }));
  assertBalanced(postings);
  const stmt = templateRunner(raw);
  // `ref` is unique: an entry that exists already makes the insert a no-op that returns no row.
  const dialect = dialectOf(trx);
  byDialect[dialect] ??= { entry: entryTemplate(trx), postings: new Map() };
  const templates = byDialect[dialect];
  const row = await stmt.first(trx, templates.entry, {
    ref: entry.ref,
    kind: entry.kind,
    epoch: entry.epoch,
    jobId: entry.jobId ?? null,
    memo: JSON.stringify(entry.memo ?? {}),
    at: now,
  });
  if (!row) return false;
  let insertPostings = templates.postings.get(postings.length);
  if (!insertPostings) {
    insertPostings = postingsTemplate(trx, postings.length);
    templates.postings.set(postings.length, insertPostings);
  }
  const values: Record<string, unknown> = { entryId: row.id };
  postings.forEach((p, i) => {
    values[`account${i}`] = p.account;
    values[`amount${i}`] = p.amount.toString();
  });
  await stmt.run(trx, insertPostings, values);
  // The maintained balances (ledgerBalances.ts), in the same transaction as the postings.
  await addToBalances(trx, entry, postings, stmt);
  return true;
}

// The inserts every entry makes, built once per store dialect (per number of postings) on first use.
const byDialect: Partial<
  Record<
    StoreDialect,
    { entry: ReturnType<typeof entryTemplate>; postings: Map<number, ReturnType<typeof postingsTemplate>> }
  >
> = {};

function entryTemplate(db: Kysely<Database>) {
  return queryTemplate((p: (n: 'ref' | 'kind' | 'epoch' | 'jobId' | 'memo' | 'at') => never) =>
    db
      .insertInto('ledger_entries')
      .values({
        ref: p('ref'),
        kind: p('kind'),
        epoch: p('epoch'),
        job_id: p('jobId'),
        memo: p('memo'),
        created_at: p('at'),
      })
      .onConflict((oc) => oc.column('ref').doNothing())
      .returning('id'),
  );
}

function postingsTemplate(db: Kysely<Database>, n: number) {
  return queryTemplate((p: (n: string) => never) =>
    db.insertInto('ledger_postings').values(
      Array.from({ length: n }, (_, i) => ({
        entry_id: p('entryId'),
        account: p(`account${i}`),
        amount: p(`amount${i}`),
      })),
    ),
  );
}
