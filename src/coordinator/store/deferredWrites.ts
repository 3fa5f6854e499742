/**
 * Writes a group-committed transaction runs once, just before its COMMIT, for all of its bodies
 * together (groupCommit.ts): a body adds to a deferred write instead of running the statement
 * itself, and the group commit keeps what a body added when the body succeeded and drops it when
 * the body was rolled back to its savepoint. A transaction the group commit did not open has no
 * scope: the caller writes at once, as before. What a deferred write adds must be invisible to the
 * bodies of its own transaction until the flush (nothing in them reads it back): on SQLite, readers
 * outside the transaction wait for its end, so they see the flushed rows or none of them.
 *
 * No body may roll back a savepoint of its own after adding to a deferred write (the group commit's
 * savepoints are the only ones this tracks).
 */
import type { Transaction } from 'kysely';
import type { Database } from './schema.ts';

/** One kind of deferred write in one transaction. */
export type DeferredWrite = {
  /** The body that just ran committed to its savepoint: keep what it added. */
  keep(): void;
  /** The body that just ran was rolled back: forget what it added. */
  drop(): void;
  /** Writes everything kept, in the transaction, before it commits. */
  flush(trx: Transaction<Database>): Promise<void>;
};

type Scope = Map<string, DeferredWrite>;

const scopes = new WeakMap<object, Scope>();

/**
 * Opens the deferred-write scope of a transaction (the group commit, as the transaction starts).
 *
 * @example openDeferredScope(trx);
 */
export function openDeferredScope(trx: Transaction<Database>): void {
  scopes.set(trx, new Map());
}

/**
 * The transaction's deferred write called `name` (made by `make` on first use), or undefined when
 * the transaction has no scope: then write at once.
 *
 * @example
 * const batch = deferredWrite(trx, 'ledger_balances', () => new BalanceBatch());
 * if (batch) batch.add(row); else await writeNow(trx, row);
 */
export function deferredWrite<W extends DeferredWrite>(
  trx: object,
  name: string,
  make: () => W,
): W | undefined {
  const scope = scopes.get(trx);
  if (!scope) return undefined;
  let w = scope.get(name) as W | undefined;
  if (!w) {
    w = make();
    scope.set(name, w);
  }
  return w;
}

/**
 * After each body: keep (`ok`) or drop what it added to every deferred write of the transaction.
 *
 * @example endDeferredBody(trx, true);
 */
export function endDeferredBody(trx: Transaction<Database>, ok: boolean): void {
  for (const w of scopes.get(trx)?.values() ?? []) {
    if (ok) w.keep();
    else w.drop();
  }
}

/**
 * Runs every deferred write of the transaction (after its last body, before COMMIT) and closes
 * its scope: a write made after this, in the same transaction, runs at once.
 *
 * @example await flushDeferred(trx);
 */
export async function flushDeferred(trx: Transaction<Database>): Promise<void> {
  const scope = scopes.get(trx);
  if (!scope) return;
  scopes.delete(trx);
  for (const w of scope.values()) await w.flush(trx);
}
