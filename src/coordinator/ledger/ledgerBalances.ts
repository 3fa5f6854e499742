/**
 * Balances maintained as postings are appended (`ledger_balances`, 0065): per account, the sum of
 * its postings of each epoch (split by whether an epoch close posted them) and of all epochs
 * (epoch -1). `GET /v1/providers` and the open epoch of `GET /v1/epochs` read these, a row per
 * account, where they summed the whole journal in JS on every call (security review s10 F3: 2.4 s
 * for 1M postings, on the event loop). Exact: text decimal base units, added as bigint (SQLite, one
 * writer: read and written in the entry's transaction) or as NUMERIC in SQL (PostgreSQL, where
 * replicas write concurrently: the upsert adds under the row's lock).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { dialectOf, type StoreDialect } from '../store/dialect.ts';
import { queryTemplate, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import type { Posting } from './postEntry.ts';
import { EPOCH_CLOSE_KINDS } from './readBalances.ts';

/** The `epoch` of an account's all-time row. */
export const ALL_EPOCHS = -1;

const CLOSING = new Set<string>(EPOCH_CLOSE_KINDS);

/**
 * Adds one entry's postings (merged: one per account) to the maintained balances, in the entry's
 * transaction, through statements built once per dialect and number of postings (like postEntry's).
 *
 * @example await addToBalances(trx, { epoch: 3, kind: 'charge' }, postings, templateRunner(raw));
 */
export async function addToBalances(
  trx: Transaction<Database> | Kysely<Database>,
  entry: { epoch: number; kind: string },
  postings: readonly Posting[],
  stmt: ReturnType<typeof templateRunner> = templateRunner(undefined),
): Promise<void> {
  const closing = CLOSING.has(entry.kind) ? 1 : 0;
  const dialect = dialectOf(trx);
  byDialect[dialect] ??= new Map();
  const cache = byDialect[dialect];
  let t = cache.get(postings.length);
  if (!t) {
    t = balanceTemplates(trx, dialect, postings.length);
    cache.set(postings.length, t);
  }
  const values: Record<string, unknown> = {};
  const row = (i: number, account: string, epoch: number, c: number, balance: bigint) => {
    values[`a${i}`] = account;
    values[`e${i}`] = epoch;
    values[`c${i}`] = c;
    values[`b${i}`] = balance.toString();
  };
  if (dialect === 'postgres') {
    // Added in SQL under the row's lock: replicas' entries on the same account never lose one.
    // Rows locked in account order: two entries over the same accounts (every charge posts to the
    // fee account) lock them in one order, so concurrent replicas wait for each other, never deadlock.
    const sorted = [...postings].sort((x, y) => (x.account < y.account ? -1 : x.account > y.account ? 1 : 0));
    sorted.forEach((p, i) => {
      row(2 * i, p.account, entry.epoch, closing, p.amount);
      row(2 * i + 1, p.account, ALL_EPOCHS, 0, p.amount);
    });
    await stmt.run(trx, t.write, values);
    return;
  }
  const read: Record<string, unknown> = { epoch: entry.epoch, all: ALL_EPOCHS };
  postings.forEach((p, i) => {
    read[`a${i}`] = p.account;
  });
  const have = await stmt.all(trx, t.read, read);
  const key = (account: string, epoch: number, c: number) => `${epoch}:${c}:${account}`;
  const before = new Map(have.map((r) => [key(r.account, r.epoch, r.closing), BigInt(r.balance)]));
  postings.forEach((p, i) => {
    row(
      2 * i,
      p.account,
      entry.epoch,
      closing,
      (before.get(key(p.account, entry.epoch, closing)) ?? 0n) + p.amount,
    );
    row(2 * i + 1, p.account, ALL_EPOCHS, 0, (before.get(key(p.account, ALL_EPOCHS, 0)) ?? 0n) + p.amount);
  });
  await stmt.run(trx, t.write, values);
}

const byDialect: Partial<Record<StoreDialect, Map<number, ReturnType<typeof balanceTemplates>>>> = {};

function balanceTemplates(db: Kysely<Database>, dialect: StoreDialect, n: number) {
  const read = queryTemplate((p: (name: string) => never) =>
    db
      .selectFrom('ledger_balances')
      .select(['account', 'epoch', 'closing', 'balance'])
      .where(
        'account',
        'in',
        Array.from({ length: n }, (_, i) => p(`a${i}`)),
      )
      .where('epoch', 'in', [p('epoch'), p('all')]),
  );
  const write = queryTemplate((p: (name: string) => never) =>
    db
      .insertInto('ledger_balances')
      .values(
        Array.from({ length: 2 * n }, (_, i) => ({
          account: p(`a${i}`),
          epoch: p(`e${i}`),
          closing: p(`c${i}`),
          balance: p(`b${i}`),
        })),
      )
      .onConflict((oc) =>
        oc.columns(['account', 'epoch', 'closing']).doUpdateSet({
          balance:
            dialect === 'postgres'
              ? sql<string>`(CAST(ledger_balances.balance AS NUMERIC) + CAST(excluded.balance AS NUMERIC))::text`
              : sql<string>`excluded.balance`,
        }),
      ),
  );
  return { read, write };
}

/**
 * Maintained balances of `accounts` (all epochs), or of every account with postings in `epoch`
 * other than an epoch close's; accounts with none are absent.
 *
 * @example const b = await maintainedBalances(db, { accounts: ['provider:0xab…:earnings'] });
 */
export async function maintainedBalances(
  db: Kysely<Database> | Transaction<Database>,
  filter: { accounts: readonly string[] } | { epoch: number },
): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  let q = db.selectFrom('ledger_balances').select(['account', 'balance']);
  if ('accounts' in filter) {
    if (filter.accounts.length === 0) return out;
    q = q
      .where('epoch', '=', ALL_EPOCHS)
      .where('closing', '=', 0)
      .where('account', 'in', [...filter.accounts]);
  } else q = q.where('epoch', '=', filter.epoch).where('closing', '=', 0);
  for (const r of await q.execute()) out.set(r.account, BigInt(r.balance));
  return out;
}

/**
 * Rebuilds every maintained balance from the journal (the 0065 migration, or after postings were
 * written around postEntry): reads the postings in pages, sums them as bigint, rewrites the table.
 *
 * @example await rebuildBalances(db);
 */
export async function rebuildBalances(db: Kysely<Database>): Promise<void> {
  const sums = new Map<string, { account: string; epoch: number; closing: number; balance: bigint }>();
  const add = (account: string, epoch: number, closing: number, amount: bigint) => {
    const k = `${epoch}:${closing}:${account}`;
    const s = sums.get(k);
    if (s) s.balance += amount;
    else sums.set(k, { account, epoch, closing, balance: amount });
  };
  let after = 0;
  for (;;) {
    const page = await db
      .selectFrom('ledger_postings as p')
      .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
      .select(['p.id', 'p.account', 'p.amount', 'e.epoch', 'e.kind'])
      .where('p.id', '>', after)
      .orderBy('p.id')
      .limit(50_000)
      .execute();
    if (page.length === 0) break;
    for (const r of page) {
      const amount = BigInt(r.amount);
      add(r.account, r.epoch, CLOSING.has(r.kind) ? 1 : 0, amount);
      add(r.account, ALL_EPOCHS, 0, amount);
    }
    after = Number(page[page.length - 1]!.id);
  }
  const rewrite = async (trx: Kysely<Database>) => {
    await trx.deleteFrom('ledger_balances').execute();
    const rows = [...sums.values()].map((s) => ({ ...s, balance: s.balance.toString() }));
    for (let i = 0; i < rows.length; i += 500)
      await trx
        .insertInto('ledger_balances')
        .values(rows.slice(i, i + 500))
        .execute();
  };
  // A migration on PostgreSQL runs in a transaction already.
  if (db.isTransaction) await rewrite(db);
  else await db.transaction().execute(rewrite);
}
