import type SQLite from 'better-sqlite3';
import { type Compilable, CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

/**
 * The store's connection without Kysely in between, for query templates (below): the
 * better-sqlite3 handle and the prepared-statement cache Kysely uses too.
 */
export type RawConnection = {
  sqlite: SQLite.Database;
  prepare(sql: string): SQLite.Statement;
};

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * A query built once with Kysely's typed builder, with named parameters in place of values; run
 * many times with values bound by name. Building and compiling a Kysely query costs more than
 * SQLite takes to run a simple one, and the coordinator runs a few dozen per task.
 */
export type QueryTemplate<P extends string, O> = {
  readonly sql: string;
  /** Per SQL parameter: the name of a bound value, or a constant from the builder. */
  readonly slots: ReadonlyArray<{ name: P } | { value: unknown }>;
  /** Row type marker (never set). */
  readonly rowType?: O;
};

const MARK = '\u0000plexus-param:';

/**
 * Builds a template: `build` gets `param(name)` to use wherever a value goes (its type is
 * `never`, so it fits any column) and returns a Kysely query.
 *
 * @example
 * const byId = queryTemplate((param) => db.selectFrom('tasks').selectAll().where('id', '=', param('id')));
 * const task = await first(raw, db, byId, { id });
 */
export function queryTemplate<P extends string, O>(
  build: (param: (name: P) => never) => Compilable<O>,
): QueryTemplate<P, O> {
  const compiled = build((name) => `${MARK}${name}` as never).compile();
  const slots = compiled.parameters.map((v) =>
    typeof v === 'string' && v.startsWith(MARK) ? { name: v.slice(MARK.length) as P } : { value: v },
  );
  return { sql: compiled.sql, slots };
}

function bind<P extends string>(t: QueryTemplate<P, unknown>, values: Record<P, unknown>): unknown[] {
  return t.slots.map((s) => {
    if ('value' in s) return s.value;
    const v = values[s.name];
    if (v === undefined) throw new Error(`query parameter ${s.name} has no value`);
    return v;
  });
}

type Result<O> = { rows: O[]; changes: bigint };

/**
 * Runs a template. Inside a transaction (the executor is one) the connection is this
 * transaction's, and outside one a statement runs alone when no transaction is open on the
 * connection: in both cases it runs at once on the raw connection. Otherwise (another flow's
 * transaction is open) it goes through Kysely, which waits for that transaction to end.
 */
async function execute<P extends string, O>(
  raw: RawConnection | undefined,
  ex: Executor,
  t: QueryTemplate<P, O>,
  values: Record<P, unknown>,
): Promise<Result<O>> {
  const params = bind(t, values);
  if (raw && (ex.isTransaction || !raw.sqlite.inTransaction)) {
    const stmt = raw.prepare(t.sql);
    if (stmt.reader) return { rows: stmt.all(params) as O[], changes: 0n };
    return { rows: [], changes: BigInt(stmt.run(params).changes) };
  }
  const r = await ex.executeQuery<O>(CompiledQuery.raw(t.sql, params));
  return { rows: r.rows as O[], changes: r.numAffectedRows ?? 0n };
}

/** Every row a template returns. */
export async function all<P extends string, O>(
  raw: RawConnection | undefined,
  ex: Executor,
  t: QueryTemplate<P, O>,
  values: Record<P, unknown>,
): Promise<O[]> {
  return (await execute(raw, ex, t, values)).rows;
}

/** The first row a template returns, if any. */
export async function first<P extends string, O>(
  raw: RawConnection | undefined,
  ex: Executor,
  t: QueryTemplate<P, O>,
  values: Record<P, unknown>,
): Promise<O | undefined> {
  return (await execute(raw, ex, t, values)).rows[0];
}

/** Runs a template that changes rows; returns how many it changed. */
export async function run<P extends string>(
  raw: RawConnection | undefined,
  ex: Executor,
  t: QueryTemplate<P, unknown>,
  values: Record<P, unknown>,
): Promise<bigint> {
  return (await execute(raw, ex, t, values)).changes;
}

/**
 * The three runners bound to one connection (raw may be absent, e.g. in a unit test that builds
 * a component on a bare Kysely instance: then templates run through Kysely).
 *
 * @example
 * const sql = templateRunner(store.raw);
 * await sql.run(trx, q.completeAssignment, { id, at });
 */
export function templateRunner(raw: RawConnection | undefined) {
  return {
    all: <P extends string, O>(ex: Executor, t: QueryTemplate<P, O>, values: Record<P, unknown>) =>
      all(raw, ex, t, values),
    first: <P extends string, O>(ex: Executor, t: QueryTemplate<P, O>, values: Record<P, unknown>) =>
      first(raw, ex, t, values),
    run: <P extends string>(ex: Executor, t: QueryTemplate<P, unknown>, values: Record<P, unknown>) =>
      run(raw, ex, t, values),
  };
}
