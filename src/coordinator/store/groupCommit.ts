import { type Kysely, sql, type Transaction } from 'kysely';
import { endDeferredBody, flushDeferred, openDeferredScope } from './deferredWrites.ts';
import { closeGroupReads, openGroupReads } from './groupReads.ts';
import type { Database } from './schema.ts';

/** Most transaction bodies committed together (bounds how long one commit keeps the others). */
const MAX_BATCH = 64;

export type GroupCommit = {
  /**
   * Runs `body` in a transaction and resolves with its value once that transaction has
   * committed; rejects, with nothing of `body` stored, when `body` throws or the commit fails.
   */
  run<T>(body: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
};

type Item = {
  body: (trx: Transaction<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  value?: unknown;
  /** Rejected already (its body threw, its savepoint was rolled back). */
  refused?: boolean;
};

/**
 * Group commit for a store whose statements all run on one connection (SQLite): bodies that
 * arrive while a transaction is open or committing wait, then share the next transaction, each in
 * its own savepoint, so one commit (one WAL append of the pages they touched) serves them all. A
 * body that throws is rolled back to its savepoint alone and its caller rejected at once; the
 * others resolve only after the commit, so whatever a caller does after `run` (acknowledging a
 * result to its provider) happens once its writes are durable, exactly as with its own
 * transaction. A failed commit rejects every body of that transaction. Writes the bodies defer
 * (deferredWrites.ts) run once after the last body, in the same transaction. A lone body runs in a
 * plain transaction, as before. On a store with a connection pool (PostgreSQL), where
 * transactions run side by side, use {@link directCommit}.
 *
 * @example
 * const commits = createGroupCommit(db);
 * const n = await commits.run(async (trx) => (await trx.insertInto('events').values(row).execute()).length);
 */
export function createGroupCommit(db: Kysely<Database>): GroupCommit {
  const pending: Item[] = [];
  let flushing = false;

  async function commit(batch: Item[]): Promise<void> {
    try {
      await db.transaction().execute(async (trx) => {
        // Writes the bodies defer (deferredWrites.ts: ledger balances) run once, before COMMIT.
        openDeferredScope(trx);
        // Reads of what no body writes (the last closed epoch, base prices): once per group.
        openGroupReads(trx);
        if (batch.length === 1) {
          batch[0]!.value = await batch[0]!.body(trx);
          endDeferredBody(trx, true);
        } else {
          for (const [i, item] of batch.entries()) {
            await sql.raw(`savepoint g${i}`).execute(trx);
            try {
              item.value = await item.body(trx);
              endDeferredBody(trx, true);
            } catch (err) {
              item.refused = true;
              item.reject(err);
              endDeferredBody(trx, false);
              await sql.raw(`rollback to g${i}`).execute(trx);
            }
            await sql.raw(`release g${i}`).execute(trx);
          }
        }
        closeGroupReads(trx);
        await flushDeferred(trx);
      });
    } catch (err) {
      // A lone body's own error, or the commit's: nothing of these bodies is stored.
      for (const item of batch) if (!item.refused) item.reject(err);
      return;
    }
    for (const item of batch) if (!item.refused) item.resolve(item.value);
  }

  async function flush(): Promise<void> {
    try {
      while (pending.length > 0) await commit(pending.splice(0, MAX_BATCH));
    } finally {
      flushing = false;
    }
  }

  return {
    run<T>(body: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        pending.push({ body, resolve: resolve as (v: unknown) => void, reject });
        if (!flushing) {
          flushing = true;
          // After this turn of the event loop: bodies queued in it go together.
          setImmediate(() => void flush());
        }
      });
    },
  };
}

/**
 * One transaction per body, started at once: for a store with a connection pool (PostgreSQL),
 * where transactions run side by side and replicas lock rows across them.
 *
 * @example const commits = directCommit(db);
 */
export function directCommit(db: Kysely<Database>): GroupCommit {
  return { run: (body) => db.transaction().execute(body) };
}
