/**
 * Reads shared by the bodies of one group-committed transaction (groupCommit.ts, SQLite). Every
 * task's bill reads the last closed epoch and its class's base price; the results and leases of
 * one group commit all read the same values, one statement each. Inside such a transaction the
 * answer cannot change between bodies: its statements run on the store's one connection, which no
 * other transaction can use until it commits, and no body of a group commit (a result, a
 * commitment, a lease: `d.commits.run` in work/) writes the tables read through here (`epochs`
 * and `prices` are written only by settlement, in transactions of its own). A body rolled back to
 * its savepoint undoes only its own writes, never what the read saw.
 *
 * Outside a group commit (PostgreSQL, replicas, every other transaction or plain read) nothing is
 * kept: each call reads, as before. The shared reads end with their transaction (the map is
 * dropped before COMMIT).
 */
import type { Transaction } from 'kysely';
import type { Database } from './schema.ts';

const shared = new WeakMap<object, Map<string, Promise<unknown>>>();

/** Starts sharing reads in `trx`, a group commit's transaction (groupCommit.ts). */
export function openGroupReads(trx: Transaction<Database>): void {
  shared.set(trx, new Map());
}

/** Ends sharing reads in `trx` (before its COMMIT). */
export function closeGroupReads(trx: Transaction<Database>): void {
  shared.delete(trx);
}

/**
 * `read()`, or what it gave earlier in the same group-committed transaction for the same `key`.
 * Only for values no group-committed body writes (see above). A read that fails is not kept.
 *
 * @example
 * const closed = await groupRead(trx, 'epochs:lastClosed', () => stmt.first(trx, lastClosedEpoch, {}));
 */
export function groupRead<T>(ex: object, key: string, read: () => Promise<T>): Promise<T> {
  const reads = shared.get(ex);
  if (!reads) return read();
  const known = reads.get(key);
  if (known) return known as Promise<T>;
  const p = read();
  reads.set(key, p);
  p.catch(() => {
    if (reads.get(key) === p) reads.delete(key);
  });
  return p;
}
