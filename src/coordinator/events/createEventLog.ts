import { EventEmitter } from 'node:events';
import { type Kysely, sql, type Transaction } from 'kysely';
import { type DeferredWrite, deferredWrite } from '../store/deferredWrites.ts';
import { queryTemplate, type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { EVENTS_LOCK_KEY, type EventBridge } from './pgEventBridge.ts';

export type JobEvent = { id: number; jobId: string | null; type: string; data: unknown; createdAt: number };

export type EventLog = {
  /** Appends an event inside the caller's transaction: it exists exactly when the change does. */
  append(
    trx: Transaction<Database> | Kysely<Database>,
    jobId: string | null,
    type: string,
    data: unknown,
  ): Promise<void>;
  /**
   * Wakes subscribers after the transaction that appended events has committed (on the next turn
   * of the event loop, once for all notifications of this one).
   */
  notify(jobId: string | null): void;
  /** Events of a job (or all, when jobId is null) after `afterId`, oldest first. */
  since(jobId: string | null, afterId: number, limit?: number): Promise<JobEvent[]>;
  /** Calls `fn` whenever events for `jobId` (or any, with '*') may have been appended. */
  subscribe(jobId: string | '*', fn: () => void): () => void;
  /** The id of the newest event, 0 when the log is empty (a stream that skips ahead resumes here). */
  lastId(): Promise<number>;
  /**
   * Deletes events beyond the retention bound (see {@link EventLogOptions}); returns how many.
   * Runs by itself every `pruneEvery` appends; exposed for tests and operators.
   */
  prune(): Promise<number>;
};

/**
 * Bounds of the event log (docs/security.md, "Denial of service and resource limits").
 *
 * @example createEventLog(db, raw, { retain: 100_000 });
 */
export type EventLogOptions = {
  /**
   * Events kept: older ones are deleted, except those of jobs still queued or running (a client
   * streaming an open job from its start must see it whole). Default {@link EVENT_RETENTION}.
   */
  retain?: number;
  /** Appends between two prunes (default 1,000). */
  pruneEvery?: number;
  /**
   * Replicas on one PostgreSQL database (pgEventBridge.ts): appends hold the events lock shared,
   * reads stop at the bridge's high-water mark, and wake-ups cross to the other replicas.
   */
  bridge?: EventBridge;
  /** Called after another replica's events arrived (the coordinator dispatches: new tasks may be queued). */
  onRemote?: () => void;
};

/** Default number of events the log keeps (about 30 MB at the usual few hundred bytes each). */
export const EVENT_RETENTION = 100_000;
/** Longest string stored in an event; longer ones (a provider's failure message) are truncated. */
export const MAX_EVENT_STRING = 512;

/**
 * JSON.stringify replacer that truncates long strings: what a provider reports (a failure
 * message, up to 2,000 characters) must not grow the log by kilobytes per report.
 */
function boundStrings(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.length > MAX_EVENT_STRING
    ? `${value.slice(0, MAX_EVENT_STRING)}…`
    : value;
}

/**
 * The persistent event log behind job progress streams (SSE) and the explorer. Events are rows,
 * so a client reconnecting with `Last-Event-ID` misses nothing, even across a coordinator restart,
 * within the retention bound: the newest `retain` events, plus every event of a job still open.
 * Strings in an event are truncated to {@link MAX_EVENT_STRING} characters.
 *
 * @example
 * await db.transaction().execute((trx) => events.append(trx, jobId, 'job.submitted', { tasks: 3 }));
 * events.notify(jobId);
 */
export function createEventLog(
  db: Kysely<Database>,
  raw?: RawConnection,
  opts: EventLogOptions = {},
): EventLog {
  const stmt = templateRunner(raw);
  const retain = opts.retain ?? EVENT_RETENTION;
  const pruneEvery = opts.pruneEvery ?? 1_000;
  const bridge = opts.bridge;
  const lockKey = EVENTS_LOCK_KEY.toString();
  let appended = 0;
  let pruning: Promise<number> | undefined;
  async function prune(): Promise<number> {
    const newest = Number(
      (
        await db
          .selectFrom('events')
          .select((eb) => eb.fn.max('id').as('id'))
          .executeTakeFirst()
      )?.id ?? 0,
    );
    const cut = newest - retain;
    if (cut <= 0) return 0;
    const r = await db
      .deleteFrom('events')
      .where('id', '<=', cut)
      .where((eb) =>
        eb.or([
          eb('job_id', 'is', null),
          eb(
            'job_id',
            'not in',
            db.selectFrom('jobs').select('jobs.id').where('jobs.status', 'in', ['queued', 'running']),
          ),
        ]),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
  // Every task appends a few events and every open stream reads them back: built once.
  const insert = queryTemplate((p: (n: 'jobId' | 'type' | 'data' | 'at') => never) =>
    db
      .insertInto('events')
      .values({ job_id: p('jobId'), type: p('type'), data: p('data'), created_at: p('at') }),
  );
  const sinceOfAll = queryTemplate((p: (n: 'after' | 'upto' | 'limit') => never) =>
    db
      .selectFrom('events')
      .selectAll()
      .where('id', '>', p('after'))
      .where('id', '<=', p('upto'))
      .orderBy('id')
      .limit(p('limit')),
  );
  const sinceOfJob = queryTemplate((p: (n: 'jobId' | 'after' | 'upto' | 'limit') => never) =>
    db
      .selectFrom('events')
      .selectAll()
      .where('id', '>', p('after'))
      .where('id', '<=', p('upto'))
      .where('job_id', '=', p('jobId'))
      .orderBy('id')
      .limit(p('limit')),
  );
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  // Wake-ups are coalesced per turn of the event loop: one task's result notifies its job several
  // times in a row, and each wake-up costs every open stream a query.
  const woken = new Set<string>();
  let jobless = false;
  let scheduled = false;
  const wake = () => {
    scheduled = false;
    const jobs = [...woken];
    woken.clear();
    bridge?.publish(jobless ? [...jobs, null] : jobs);
    jobless = false;
    for (const jobId of jobs) bus.emit(jobId);
    bus.emit('*');
  };
  void bridge
    ?.start((jobs) => {
      for (const name of jobs === '*' ? bus.eventNames() : [...jobs, '*']) bus.emit(name);
      opts.onRemote?.();
    })
    .catch(() => {});
  return {
    async append(trx, jobId, type, data) {
      const text = JSON.stringify(data, boundStrings);
      if (bridge) {
        // The id is drawn under the shared events lock, held until commit (pgEventBridge.ts).
        await sql`WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(${lockKey}::bigint))
          INSERT INTO events (job_id, type, data, created_at)
          SELECT ${jobId}::text, ${type}::text, ${text}::text, ${Date.now()}::bigint FROM l`.execute(trx);
      } else {
        const row = { jobId, type, data: text, at: Date.now() };
        // In a group-committed transaction (SQLite), the rows of all its bodies go in at once
        // before its COMMIT, in the order they were appended (so with the same ids).
        const batch = deferredWrite(trx, 'events', () => new EventBatch(db, stmt));
        if (batch) batch.add(row);
        else await stmt.run(trx, insert, row);
      }
      appended++;
    },
    notify(jobId) {
      // Pruning runs outside the appending transaction (notify comes after the commit).
      if (appended >= pruneEvery && !pruning) {
        appended = 0;
        pruning = prune()
          .catch(() => 0)
          .finally(() => {
            pruning = undefined;
          });
      }
      if (jobId) woken.add(jobId);
      else jobless = true;
      if (!scheduled) {
        scheduled = true;
        setImmediate(wake);
      }
    },
    async since(jobId, afterId, limit = 500) {
      // With replicas, only events below the high-water mark: a lower id may still be committing.
      const upto = bridge ? await bridge.settledId() : Number.MAX_SAFE_INTEGER;
      if (upto <= afterId) return [];
      const rows =
        jobId === null
          ? await stmt.all(db, sinceOfAll, { after: afterId, upto, limit })
          : await stmt.all(db, sinceOfJob, { jobId, after: afterId, upto, limit });
      return rows.map((r) => ({
        id: r.id,
        jobId: r.job_id,
        type: r.type,
        data: JSON.parse(r.data) as unknown,
        createdAt: r.created_at,
      }));
    },
    subscribe(jobId, fn) {
      bus.on(jobId, fn);
      return () => bus.off(jobId, fn);
    },
    async lastId() {
      if (bridge) return bridge.settledId();
      const last = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirst();
      return Number(last?.id ?? 0);
    },
    prune,
  };
}

type EventRow = { jobId: string | null; type: string; data: string; at: number };

/**
 * A group-committed transaction's event rows (deferredWrites.ts), inserted before its COMMIT in
 * multi-row statements of power-of-two sizes (a few statements serve every batch), in append
 * order: the ids they get are the ones one insert per append would have given, and they become
 * visible together at the commit, as before.
 */
class EventBatch implements DeferredWrite {
  private kept: EventRow[] = [];
  private body: EventRow[] = [];
  constructor(
    private readonly db: Kysely<Database>,
    private readonly stmt: ReturnType<typeof templateRunner>,
  ) {}

  add(row: EventRow): void {
    this.body.push(row);
  }

  keep(): void {
    for (const r of this.body) this.kept.push(r);
    this.body = [];
  }

  drop(): void {
    this.body = [];
  }

  async flush(trx: Transaction<Database>): Promise<void> {
    const rows = this.kept;
    this.kept = [];
    let i = 0;
    while (i < rows.length) {
      const n = Math.min(MAX_EVENT_BATCH, 2 ** Math.floor(Math.log2(rows.length - i)));
      const values: Record<string, unknown> = {};
      for (let k = 0; k < n; k++) {
        const r = rows[i + k]!;
        values[`j${k}`] = r.jobId;
        values[`t${k}`] = r.type;
        values[`d${k}`] = r.data;
        values[`a${k}`] = r.at;
      }
      await this.stmt.run(trx, insertMany(this.db, n), values);
      i += n;
    }
  }
}

/** Most event rows one insert writes (4 parameters each). */
const MAX_EVENT_BATCH = 256;

const insertManyCache = new Map<number, ReturnType<typeof insertManyTemplate>>();

function insertMany(db: Kysely<Database>, n: number) {
  let t = insertManyCache.get(n);
  if (!t) {
    t = insertManyTemplate(db, n);
    insertManyCache.set(n, t);
  }
  return t;
}

function insertManyTemplate(db: Kysely<Database>, n: number) {
  return queryTemplate((p: (name: string) => never) =>
    db.insertInto('events').values(
      Array.from({ length: n }, (_, k) => ({
        job_id: p(`j${k}`),
        type: p(`t${k}`),
        data: p(`d${k}`),
        created_at: p(`a${k}`),
      })),
    ),
  );
}
