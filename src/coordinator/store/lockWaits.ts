/**
 * Who waits for whom in a PostgreSQL store, for the log line of a slow settlement step
 * (settlement/createSettlement.ts): every session of this database waiting on a lock, with the
 * sessions blocking it. Read on a connection of its own, since the pool's one connection may be
 * the very one that waits. Sessions are named by `application_name` (openStore.ts sets the
 * replica's pid on its pool, leaderLock.ts on the leader's connection); statements are cut to 160
 * characters and carry `$n` placeholders, never values.
 */
import pg from 'pg';

/**
 * One waiting session and what blocks it.
 *
 * @example const w: LockWait = { pid: 812, app: 'plexus-coordinator pid=4410', waitEvent: 'transactionid', waitingMs: 12034, query: 'select …', blockedBy: [] };
 */
export type LockWait = {
  pid: number;
  app: string;
  waitEvent: string | null;
  waitingMs: number;
  query: string;
  blockedBy: {
    pid: number;
    app: string;
    state: string | null;
    inTransactionMs: number | null;
    query: string;
  }[];
};

const WAITS = `
  SELECT w.pid, w.application_name AS app, w.wait_event AS wait_event,
         (extract(epoch FROM now() - w.state_change) * 1000)::float8 AS waiting_ms,
         left(w.query, 160) AS query, pg_blocking_pids(w.pid) AS blockers
    FROM pg_stat_activity w
   WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'`;
const SESSIONS = `
  SELECT pid, application_name AS app, state,
         (extract(epoch FROM now() - xact_start) * 1000)::float8 AS in_xact_ms, left(query, 160) AS query
    FROM pg_stat_activity WHERE pid = ANY($1::int[])`;

/**
 * Reads the lock waits of the database at `url` now (at most 5 s: a diagnosis never hangs).
 *
 * @example log.warn({ locks: await readLockWaits(store.url) }, 'settlement step slow');
 */
export async function readLockWaits(url: string): Promise<LockWait[]> {
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5000,
    statement_timeout: 5000,
    application_name: `plexus-lock-diagnosis pid=${process.pid}`,
  });
  c.on('error', () => {});
  await c.connect();
  try {
    const waits = await c.query<{
      pid: number;
      app: string;
      wait_event: string | null;
      waiting_ms: number;
      query: string;
      blockers: number[];
    }>(WAITS);
    const ids = [...new Set(waits.rows.flatMap((r) => r.blockers))];
    const sessions = ids.length
      ? (
          await c.query<{
            pid: number;
            app: string;
            state: string | null;
            in_xact_ms: number | null;
            query: string;
          }>(SESSIONS, [ids])
        ).rows
      : [];
    const byPid = new Map(sessions.map((s) => [s.pid, s]));
    return waits.rows.map((r) => ({
      pid: r.pid,
      app: r.app,
      waitEvent: r.wait_event,
      waitingMs: Math.round(r.waiting_ms),
      query: r.query,
      blockedBy: r.blockers.map((pid) => {
        const s = byPid.get(pid);
        return {
          pid,
          app: s?.app ?? '(gone)',
          state: s?.state ?? null,
          inTransactionMs: s?.in_xact_ms == null ? null : Math.round(s.in_xact_ms),
          query: s?.query ?? '',
        };
      }),
    }));
  } finally {
    await c.end().catch(() => {});
  }
}
