/**
 * Bounded lock waits and whole-transaction retries on PostgreSQL (docs/scaling.md "Locks and
 * retries"). Replicas lock rows and a few `market_meta` rows across one database; PostgreSQL
 * breaks a wait cycle it sees by aborting one transaction (40P01, after `deadlock_timeout`), a
 * serializable conflict aborts one (40001), and a wait past `SET LOCAL lock_timeout` aborts the
 * waiter (55P03). Each leaves nothing written, so a transaction whose body only reads the store
 * and writes idempotently can simply run again; `withPgRetry` does that a bounded number of times.
 */
import { sql, type Transaction } from 'kysely';
import { dialectOf } from './dialect.ts';
import type { Database } from './schema.ts';

/** SQLSTATEs after which the whole transaction may run again: nothing of it was committed. */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set([
  '40P01', // deadlock_detected
  '40001', // serialization_failure
  '55P03', // lock_not_available (lock_timeout)
]);

/** The SQLSTATE of a `pg` error (on the error or its cause), if any. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err, i = 0; e && typeof e === 'object' && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Whether `err` aborted a PostgreSQL transaction that may be run again whole.
 *
 * @example if (isRetryablePgError(err)) await again();
 */
export function isRetryablePgError(err: unknown): boolean {
  const s = sqlState(err);
  return s !== undefined && RETRYABLE_SQLSTATES.has(s);
}

/**
 * Bounds every lock wait of the caller's transaction (PostgreSQL; SQLite waits for its one
 * writer as before). Must run inside the transaction: `SET LOCAL` ends with it.
 *
 * @example await db.transaction().execute(async (trx) => { await setLockTimeout(trx, 10_000); … });
 */
export async function setLockTimeout(trx: Transaction<Database>, ms: number): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`lock timeout ${ms} ms`);
  // SET takes no parameters: the value is a validated integer.
  await sql.raw(`SET LOCAL lock_timeout = ${ms}`).execute(trx);
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error, or `attempts` tries; between tries it
 * waits `backoffMs` × the try number (with jitter, so two replicas that broke a cycle do not meet
 * again at once). `onRetry` is told each retry (for a log line). `attempt` must be one whole
 * transaction, idempotent when run again.
 *
 * @example
 * await withPgRetry(() => db.transaction().execute(body), { attempts: 3, onRetry: (err, n) => log.warn(…) });
 */
export async function withPgRetry<T>(
  attempt: () => Promise<T>,
  opts: { attempts?: number; backoffMs?: number; onRetry?: (err: unknown, tryNumber: number) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  const backoffMs = opts.backoffMs ?? 200;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= attempts || !isRetryablePgError(err)) throw err;
      opts.onRetry?.(err, n);
      await new Promise((r) => setTimeout(r, backoffMs * n * (0.5 + Math.random())));
    }
  }
}
