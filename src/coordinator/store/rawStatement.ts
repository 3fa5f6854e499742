import { CompiledQuery, type Kysely } from 'kysely';
import type { Store } from './openStore.ts';
import type { Database } from './schema.ts';

/** Values of a hand-written statement: by name (`:name` in the SQL) or by position (`?`). */
export type RawParams = Record<string, unknown> | readonly unknown[];

/**
 * A hand-written SQL statement that runs on either dialect. On SQLite it is a prepared
 * better-sqlite3 statement on the store's connection (from the shared statement cache), run
 * synchronously; on PostgreSQL its `:name` and `?` placeholders become `$n` and it runs through
 * Kysely's executor (the pool, so it waits for a transaction in progress like every query).
 */
export type RawStatement = {
  /** Every row. */
  all<T = Record<string, unknown>>(params?: RawParams): Promise<T[]>;
  /** The first row, if any. */
  get<T = Record<string, unknown>>(params?: RawParams): Promise<T | undefined>;
  /** The first column of the first row, if any (better-sqlite3's `pluck().get()`). */
  value<T = unknown>(params?: RawParams): Promise<T | undefined>;
};

/** The SQL text with PostgreSQL's `$n` placeholders, and the order values bind in. */
export function toPostgresPlaceholders(text: string): { sql: string; names: Array<string | number> } {
  const names: Array<string | number> = [];
  let positional = 0;
  const sql = text.replace(
    /'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)|\?/g,
    (m, name: string | undefined) => {
      if (m.startsWith("'") || m === '::') return m;
      const key = name ?? positional++;
      let i = names.indexOf(key);
      if (i < 0) i = names.push(key) - 1;
      return `$${i + 1}`;
    },
  );
  return { sql, names };
}

/**
 * Prepares a statement on a store (see {@link RawStatement}).
 *
 * @example
 * const owns = rawStatement(store, 'SELECT 1 FROM blob_uploads WHERE cid = ? AND account = ?');
 * if ((await owns.value([cid, account])) !== undefined) …
 */
export function rawStatement(store: Pick<Store, 'db' | 'raw'>, text: string): RawStatement {
  const { raw } = store;
  if (raw) {
    const stmt = () => raw.prepare(text);
    const args = (p?: RawParams) => (p === undefined ? [] : Array.isArray(p) ? p : [p]);
    return {
      async all<T>(p?: RawParams) {
        return stmt().all(...args(p)) as T[];
      },
      async get<T>(p?: RawParams) {
        return stmt().get(...args(p)) as T | undefined;
      },
      async value<T>(p?: RawParams) {
        // Not `pluck()`: the statement is the cache's, shared with Kysely, and must stay as it is.
        const row = stmt().get(...args(p)) as Record<string, unknown> | undefined;
        return row === undefined ? undefined : (Object.values(row)[0] as T);
      },
    };
  }
  const db: Kysely<Database> = store.db;
  const { sql, names } = toPostgresPlaceholders(text);
  const bind = (p?: RawParams) =>
    names.map((n) =>
      typeof n === 'number' ? (p as readonly unknown[] | undefined)?.[n] : (p as Record<string, unknown>)[n],
    );
  const rows = async <T>(p?: RawParams) =>
    (await db.executeQuery<T>(CompiledQuery.raw(sql, bind(p)))).rows as T[];
  return {
    all: rows,
    async get<T>(p?: RawParams) {
      return (await rows<T>(p))[0];
    },
    async value<T>(p?: RawParams) {
      const row = (await rows<Record<string, unknown>>(p))[0];
      return row === undefined ? undefined : (Object.values(row)[0] as T);
    },
  };
}
