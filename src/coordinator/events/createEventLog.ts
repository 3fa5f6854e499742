import { EventEmitter } from 'node:events';
import type { Kysely, Transaction } from 'kysely';
import { queryTemplate, type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';

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
};

/**
 * The persistent event log behind job progress streams (SSE) and the explorer. Events are rows,
 * so a client reconnecting with `Last-Event-ID` misses nothing, even across a coordinator restart.
 *
 * @example
 * await db.transaction().execute((trx) => events.append(trx, jobId, 'job.submitted', { tasks: 3 }));
 * events.notify(jobId);
 */
export function createEventLog(db: Kysely<Database>, raw?: RawConnection): EventLog {
  const stmt = templateRunner(raw);
  // Every task appends a few events and every open stream reads them back: built once.
  const insert = queryTemplate((p: (n: 'jobId' | 'type' | 'data' | 'at') => never) =>
    db
      .insertInto('events')
      .values({ job_id: p('jobId'), type: p('type'), data: p('data'), created_at: p('at') }),
  );
  const sinceOfAll = queryTemplate((p: (n: 'after' | 'limit') => never) =>
    db.selectFrom('events').selectAll().where('id', '>', p('after')).orderBy('id').limit(p('limit')),
  );
  const sinceOfJob = queryTemplate((p: (n: 'jobId' | 'after' | 'limit') => never) =>
    db
      .selectFrom('events')
      .selectAll()
      .where('id', '>', p('after'))
      .where('job_id', '=', p('jobId'))
      .orderBy('id')
      .limit(p('limit')),
  );
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  // Wake-ups are coalesced per turn of the event loop: one task's result notifies its job several
  // times in a row, and each wake-up costs every open stream a query.
  const woken = new Set<string>();
  let scheduled = false;
  const wake = () => {
    scheduled = false;
    const jobs = [...woken];
    woken.clear();
    for (const jobId of jobs) bus.emit(jobId);
    bus.emit('*');
  };
  return {
    async append(trx, jobId, type, data) {
      await stmt.run(trx, insert, { jobId, type, data: JSON.stringify(data), at: Date.now() });
    },
    notify(jobId) {
      if (jobId) woken.add(jobId);
      if (!scheduled) {
        scheduled = true;
        setImmediate(wake);
      }
    },
    async since(jobId, afterId, limit = 500) {
      const rows =
        jobId === null
          ? await stmt.all(db, sinceOfAll, { after: afterId, limit })
          : await stmt.all(db, sinceOfJob, { jobId, after: afterId, limit });
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
  };
}
