import type SQLite from 'better-sqlite3';

/** Distinct SQL texts kept prepared; the least recently used is dropped beyond this. */
export const STATEMENT_CACHE_SIZE = 500;

/**
 * The database Kysely's SqliteDialect is given: the same better-sqlite3 connection, but `prepare`
 * hands back an already prepared statement for SQL text it has seen. Kysely prepares every query
 * it runs, and compiling the SQL again each time was a large share of the coordinator's CPU per
 * task; Kysely always compiles the same text for the same query shape, with values as bound
 * parameters, so the set of texts stays small (and the cache is bounded for the odd shapes that
 * vary, such as IN lists). A statement that is still being iterated (`busy`, only a streamed
 * query does that) cannot run twice at once, so a fresh one is prepared for that call.
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingDatabase(sqlite) }) });
 */
export function cachingDatabase(
  sqlite: SQLite.Database,
  max = STATEMENT_CACHE_SIZE,
): { close(): void; prepare(sql: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close() {
      cache.clear();
      sqlite.close();
    },
    prepare(sql: string): SQLite.Statement {
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        // Map order is insertion order: re-inserting marks it most recently used.
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const stmt = sqlite.prepare(sql);
      if (!hit) {
        cache.set(sql, stmt);
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
  };
}
