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
 * A `limit ?` or `offset ?` (Kysely binds every LIMIT) runs with its integer value written into
 * the SQL instead ({@link inlinedLimits}): SQLite marks a statement whose LIMIT is a bound
 * parameter to be compiled again whenever that parameter is bound, i.e. at every run, which cost
 * 10–40 µs per query (measured on this VM, SQLite 3.53: an empty canary-pool lookup 34 µs with
 * `limit ?`, 7 µs with `limit 1`).
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingDatabase(sqlite) }) });
 */
export function cachingDatabase(
  sqlite: SQLite.Database,
  max = STATEMENT_CACHE_SIZE,
): { close(): void; prepare(sql: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (sql: string): SQLite.Statement => {
    const hit = cache.get(sql);
    if (hit && !hit.busy) {
      // Map order is insertion order: re-inserting marks it most recently used.
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    const stmt = sqlite.prepare(sql);
    const slots = hit ? undefined : limitSlots(sql);
    const kept = slots ? inlinedLimits(stmt, sql, slots, prepare) : stmt;
    if (!hit) {
      cache.set(sql, kept);
      if (cache.size > max) cache.delete(cache.keys().next().value!);
    }
    return kept;
  };
  return {
    close() {
      cache.clear();
      sqlite.close();
    },
    prepare,
  };
}

/** Indexes (among the SQL's `?` placeholders) of those that are a LIMIT's or an OFFSET's value. */
export function limitSlots(sql: string): number[] | undefined {
  const slots: number[] = [];
  let i = 0;
  for (const m of sql.matchAll(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g)) {
    if (m[0] !== '?') continue;
    if (/\b(?:limit|offset)\s+$/i.test(sql.slice(Math.max(0, m.index - 8), m.index))) slots.push(i);
    i++;
  }
  return slots.length > 0 ? slots : undefined;
}

/**
 * A stand-in for the statement of `sql`, whose LIMIT/OFFSET placeholders (`slots`) are bound
 * values: run with positional values (one array, as Kysely and query templates pass them), it
 * runs the statement with those integers written into the SQL (prepared through `prepare`, so
 * kept in the cache like any text) and the other values bound; any other call, or a value that
 * is not an integer, runs the statement as it is.
 */
function inlinedLimits(
  stmt: SQLite.Statement,
  sql: string,
  slots: number[],
  prepare: (sql: string) => SQLite.Statement,
): SQLite.Statement {
  const pieces = sql.split('?');
  // `?` inside a quoted literal would shift the pieces: such SQL runs as it is.
  if (pieces.length - 1 !== countPlaceholders(sql)) return stmt;
  const variant = (params: unknown[]): { s: SQLite.Statement; rest: unknown[] } | undefined => {
    let text = pieces[0]!;
    const rest: unknown[] = [];
    let slot = 0;
    for (let i = 0; i < params.length; i++) {
      const v = params[i];
      if (slots[slot] === i) {
        slot++;
        if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) text += String(v);
        else return undefined;
      } else {
        text += '?';
        rest.push(v);
      }
      text += pieces[i + 1] ?? '';
    }
    if (slot !== slots.length || params.length !== pieces.length - 1) return undefined;
    return { s: prepare(text), rest };
  };
  const base = () => (stmt.busy ? (stmt.database.prepare(sql) as SQLite.Statement) : stmt);
  const one = (args: unknown[]) =>
    args.length === 1 && Array.isArray(args[0]) ? variant(args[0]) : undefined;
  const wrapper = {
    get reader() {
      return stmt.reader;
    },
    get busy() {
      return false;
    },
    get source() {
      return sql;
    },
    get database() {
      return stmt.database;
    },
    all(...args: unknown[]) {
      const v = one(args);
      return v ? v.s.all(v.rest) : base().all(...args);
    },
    get(...args: unknown[]) {
      const v = one(args);
      return v ? v.s.get(v.rest) : base().get(...args);
    },
    run(...args: unknown[]) {
      const v = one(args);
      return v ? v.s.run(v.rest) : base().run(...args);
    },
    iterate(...args: unknown[]) {
      const v = one(args);
      return v ? v.s.iterate(v.rest) : base().iterate(...args);
    },
  };
  return wrapper as unknown as SQLite.Statement;
}

function countPlaceholders(sql: string): number {
  let n = 0;
  for (const m of sql.matchAll(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g)) if (m[0] === '?') n++;
  return n;
}
