import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from './migrations.ts';
import type { RawConnection } from './queryTemplate.ts';
import type { Database } from './schema.ts';
import { cachingDatabase } from './statementCache.ts';

export type Store = {
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

/**
 * Opens (creating if needed) the coordinator's SQLite store and brings its schema up to date.
 * WAL mode with synchronous=NORMAL: a committed transaction survives a process crash, and
 * readers never block the writer.
 *
 * @example const store = await openStore({ path: '.plexus/coordinator/plexus.db' });
 */
export async function openStore(opts: { path: string; readonly?: boolean }): Promise<Store> {
  if (opts.readonly) {
    // Tools that inspect a running coordinator's store (ledger verify, the devnet's check) never write.
    const sqlite = new SQLite(opts.path, { readonly: true, fileMustExist: true });
    sqlite.pragma('busy_timeout = 5000');
    const database = cachingDatabase(sqlite);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return { db, sqlite, raw: { sqlite, prepare: database.prepare }, close: () => db.destroy() };
  }
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const sqlite = new SQLite(opts.path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const database = cachingDatabase(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`store migration ${failed ?? ''} failed`, { cause: error });
  }
  return {
    db,
    sqlite,
    raw: { sqlite, prepare: database.prepare },
    async close() {
      await db.destroy();
    },
  };
}
