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
import { type DeferredWrite, deferredWrite } from '../store/deferredWrites.ts';
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
  // In a group-committed transaction (SQLite), added up in memory and written once before its
  // COMMIT, one read and one upsert for all of its entries (the fee account is in every charge).
  const batch = deferredWrite(trx, 'ledger_balances', () => new BalanceBatch(stmt));
  if (batch) {
    for (const p of postings) {
      batch.add(p.account, entry.epoch, closing, p.amount);
      batch.add(p.account, ALL_EPOCHS, 0, p.amount);
    }
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

type BalanceRow = { account: string; epoch: number; closing: number; delta: bigint };

/**
 * A group-committed transaction's balance changes (SQLite only: PostgreSQL has no group commit),
 * per (account, epoch, closing) row, written by {@link BalanceBatch.flush} before COMMIT: the rows
 * it names are read once and upserted once with their sums added exactly (bigint), so the table
 * after the commit is what one read and upsert per entry would have left. A row whose changes net
 * to zero is still written (created at 0), as per-entry writes would have.
 */
class BalanceBatch implements DeferredWrite {
  private kept = new Map<string, BalanceRow>();
  private body = new Map<string, BalanceRow>();
  constructor(private readonly stmt: ReturnType<typeof templateRunner>) {}

  add(account: string, epoch: number, closing: number, amount: bigint): void {
    const k = `${epoch}:${closing}:${account}`;
    const r = this.body.get(k);
    if (r) r.delta += amount;
    else this.body.set(k, { account, epoch, closing, delta: amount });
  }

  keep(): void {
    for (const [k, r] of this.body) {
      const have = this.kept.get(k);
      if (have) have.delta += r.delta;
      else this.kept.set(k, r);
    }
    this.body.clear();
  }

  drop(): void {
    this.body.clear();
  }

  async flush(trx: Transaction<Database>): Promise<void> {
    const rows = [...this.kept.values()];
    this.kept.clear();
    for (let i = 0; i < rows.length; i += FLUSH_ROWS) await this.write(trx, rows.slice(i, i + FLUSH_ROWS));
  }

  private async write(trx: Transaction<Database>, rows: BalanceRow[]): Promise<void> {
    if (rows.length === 0) return;
    const accounts = [...new Set(rows.map((r) => r.account))];
    const epochs = [...new Set(rows.map((r) => r.epoch))];
    // Lists padded to a power of two with their last value (the same rows again), so a few
    // statements serve every batch size.
    const t = flushTemplates(trx, pow2(accounts.length), pow2(epochs.length), pow2(rows.length));
    const read: Record<string, unknown> = {};
    for (let i = 0; i < t.accounts; i++) read[`a${i}`] = accounts[Math.min(i, accounts.length - 1)];
    for (let i = 0; i < t.epochs; i++) read[`e${i}`] = epochs[Math.min(i, epochs.length - 1)];
    const have = await this.stmt.all(trx, t.read, read);
    const key = (account: string, epoch: number, c: number) => `${epoch}:${c}:${account}`;
    const before = new Map(have.map((r) => [key(r.account, r.epoch, r.closing), BigInt(r.balance)]));
    const values: Record<string, unknown> = {};
    for (let i = 0; i < t.rows; i++) {
      const r = rows[Math.min(i, rows.length - 1)]!;
      values[`a${i}`] = r.account;
      values[`e${i}`] = r.epoch;
      values[`c${i}`] = r.closing;
      values[`b${i}`] = ((before.get(key(r.account, r.epoch, r.closing)) ?? 0n) + r.delta).toString();
    }
    await this.stmt.run(trx, t.write, values);
  }
}

/** Most rows one flush statement writes (4 parameters each). */
const FLUSH_ROWS = 512;

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

const flushCache = new Map<string, ReturnType<typeof flushTemplate>>();

function flushTemplates(db: Kysely<Database>, accounts: number, epochs: number, rows: number) {
  const k = `${accounts}:${epochs}:${rows}`;
  let t = flushCache.get(k);
  if (!t) {
    t = flushTemplate(db, accounts, epochs, rows);
    flushCache.set(k, t);
  }
  return t;
}

function flushTemplate(db: Kysely<Database>, accounts: number, epochs: number, rows: number) {
  const read = queryTemplate((p: (name: string) => never) =>
    db
      .selectFrom('ledger_balances')
      .select(['account', 'epoch', 'closing', 'balance'])
      .where(
        'account',
        'in',
        Array.from({ length: accounts }, (_, i) => p(`a${i}`)),
      )
      .where(
        'epoch',
        'in',
        Array.from({ length: epochs }, (_, i) => p(`e${i}`)),
      ),
  );
  const write = queryTemplate((p: (name: string) => never) =>
    db
      .insertInto('ledger_balances')
      .values(
        Array.from({ length: rows }, (_, i) => ({
          account: p(`a${i}`),
          epoch: p(`e${i}`),
          closing: p(`c${i}`),
          balance: p(`b${i}`),
        })),
      )
      .onConflict((oc) =>
        oc.columns(['account', 'epoch', 'closing']).doUpdateSet({ balance: sql<string>`excluded.balance` }),
      ),
  );
  return { read, write, accounts, epochs, rows };
}

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
