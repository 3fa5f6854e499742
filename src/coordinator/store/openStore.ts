import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { postgresSchemaPlugin } from './dialect.ts';
import { migrationProvider } from './migrations.ts';
import type { RawConnection } from './queryTemplate.ts';
import type { Database } from './schema.ts';
import { cachingDatabase } from './statementCache.ts';

/** The embedded store: one SQLite file (or `:memory:`). */
export type SqliteStore = {
  dialect: 'sqlite';
  db: Kysely<Database>;
  /**
   * The same connection, raw: bulk sensor ingestion writes through prepared statements. Only use
   * it synchronously and only while `sqlite.inTransaction` is false (no Kysely transaction open).
   */
  sqlite: SQLite.Database;
  /** The connection for query templates (queryTemplate.ts): the handle and Kysely's statement cache. */
  raw: RawConnection;
  close(): Promise<void>;
};

/** A PostgreSQL database (one or several coordinator replicas share it). */
export type PostgresStore = {
  dialect: 'postgres';
  db: Kysely<Database>;
  sqlite?: undefined;
  /** None: query templates run through Kysely's executor, with `$n` parameters. */
  raw?: undefined;
  /** The pool Kysely draws its connections from (LISTEN/NOTIFY and advisory locks use it too). */
  pool: pg.Pool;
  /** The connection string it was opened with. */
  url: string;
  close(): Promise<void>;
};

export type Store = SqliteStore | PostgresStore;

/** Options of {@link openStore}: `path` (SQLite file) or `url` (`postgres://…`, or a SQLite path). */
export type OpenStoreOptions = {
  readonly?: boolean;
  /**
   * PostgreSQL only: connections in the pool (default 1). One connection serializes the
   * process's transactions exactly as SQLite's single connection does, which is what every flow
   * was written against; several processes (replicas) on one database rely on row locks instead.
   */
  poolSize?: number;
};

/** Whether a store location names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Opens (creating if needed) the coordinator's store and brings its schema up to date.
 *
 * SQLite: WAL mode with synchronous=NORMAL: a committed transaction survives a process crash, and
 * readers never block the writer. PostgreSQL (`url: 'postgres://…'`): Kysely's PostgresDialect
 * over a `pg` pool; int8 columns come back as numbers (unix milliseconds, counts: as SQLite
 * returns them; a value beyond 2^53 throws rather than rounding), money stays TEXT.
 *
 * @example const store = await openStore({ path: '.plexus/coordinator/plexus.db' });
 * @example const store = await openStore({ url: 'postgres://postgres@127.0.0.1:5432/plexus' });
 */
export async function openStore(opts: { path: string } & OpenStoreOptions): Promise<SqliteStore>;
export async function openStore(opts: { url: string } & OpenStoreOptions): Promise<Store>;
export async function openStore(
  opts: ({ path: string } | { url: string }) & OpenStoreOptions,
): Promise<Store> {
  const location = 'path' in opts ? opts.path : opts.url;
  if (isPostgresUrl(location)) return openPostgres(location, opts);
  return openSqlite(location, opts.readonly ?? false);
}

async function migrate(db: Kysely<Database>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`store migration ${failed ?? ''} failed`, { cause: error });
  }
}

async function openSqlite(path: string, readonly: boolean): Promise<SqliteStore> {
  if (readonly) {
    // Tools that inspect a running coordinator's store (ledger verify, the devnet's check) never write.
    const sqlite = new SQLite(path, { readonly: true, fileMustExist: true });
    sqlite.pragma('busy_timeout = 5000');
    const database = cachingDatabase(sqlite);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return {
      dialect: 'sqlite',
      db,
      sqlite,
      raw: { sqlite, prepare: database.prepare },
      close: () => db.destroy(),
    };
  }
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Savepoint journals in memory: the group commit runs every body in a savepoint, and SQLite
  // keeps the first copy of each page a savepoint changes in a sub-journal, which beyond 64 KiB
  // per transaction went to a temporary file (two write system calls per page, ~60 per task).
  sqlite.pragma('temp_store = MEMORY');
  // Checkpoint every 10,000 WAL pages (~40 MB), not SQLite's 1,000: the hot pages of the tables
  // every task writes (queue, events, ledger leaves) are copied into the database once per
  // checkpoint however often the WAL holds them. Measured at 1,500 tasks (coordinator-load): the
  // checkpoints' page reads and writes 14,447 → 5,001 each, fsyncs 80 → 11.
  sqlite.pragma('wal_autocheckpoint = 10000');
  const database = cachingDatabase(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  try {
    await migrate(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    dialect: 'sqlite',
    db,
    sqlite,
    raw: { sqlite, prepare: database.prepare },
    async close() {
      await db.destroy();
    },
  };
}

const INT8_OID = 20;

/** int8 as a JS number, as better-sqlite3 returns integers; never a silently rounded one. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} is beyond 2^53: read it as text`);
  return n;
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

async function openPostgres(url: string, opts: OpenStoreOptions): Promise<PostgresStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 1,
    // Named, so a lock wait's log line (lockWaits.ts) and pg_stat_activity say which replica it is.
    application_name: `plexus-coordinator pid=${process.pid}`,
    types,
    ...(opts.readonly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection that the server drops must not crash the process: the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (!opts.readonly) {
    try {
      await migrate(db.withPlugin(postgresSchemaPlugin));
    } catch (err) {
      await db.destroy();
      throw err;
    }
  }
  return {
    dialect: 'postgres',
    db,
    pool,
    url,
    async close() {
      await db.destroy();
    },
  };
}
