/**
 * Coordinator processes on one store (issue 18, docs/scaling.md "Sessions"): each has an id and a
 * row in `coordinator_replicas` whose `heartbeat_at` it renews every `heartbeatMs`. A replica whose
 * heartbeat is older than `leaseMs` is dead; the provider sessions it owned are closed by the
 * others (work/sessions.ts `closeDeadSessions`), never those of a live replica.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** A replica not heard from for this long is dead (its sessions are closed by the others). */
export const REPLICA_LEASE_MS = 15_000;
/** How often a replica renews its heartbeat (well inside the lease, so a busy process keeps it). */
export const REPLICA_HEARTBEAT_MS = 2_000;
/** Rows of replicas dead for this long are removed (sessions keep their owner's id as history). */
const FORGET_AFTER_MS = 7 * 24 * 3600_000;

export type ReplicaRegistry = {
  /** This process's replica id (owner of the sessions it holds). */
  readonly id: string;
  readonly leaseMs: number;
  /** Renews the heartbeat now, then runs `onBeat`; resolves when both are done. */
  beat(): Promise<void>;
  /** Renews every `heartbeatMs` until stopped. */
  start(): void;
  /** Stops renewing and removes this replica's row (a clean exit: it is dead at once). */
  stop(): Promise<void>;
};

/**
 * Registers this process as a replica (a fresh id each start) and returns its heartbeat.
 * `onBeat` runs after each renewal (closing dead replicas' sessions), with `revived` true when the
 * renewal found this replica's previous heartbeat older than the lease (the process stalled and
 * others may have closed its sessions: it reopens those it still holds).
 *
 * @example
 * const replica = await registerReplica(db, { onBeat: (t, revived) => loop.replicaBeat({ t, revived }) });
 * replica.start();
 */
export async function registerReplica(
  db: Kysely<Database>,
  opts: {
    now?: () => number;
    leaseMs?: number;
    heartbeatMs?: number;
    onBeat?: (t: number, revived: boolean) => Promise<void>;
    onError?: (err: unknown) => void;
  } = {},
): Promise<ReplicaRegistry> {
  const now = opts.now ?? Date.now;
  const leaseMs = opts.leaseMs ?? REPLICA_LEASE_MS;
  const heartbeatMs = opts.heartbeatMs ?? REPLICA_HEARTBEAT_MS;
  const id = `${hostname().slice(0, 40)}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const t0 = now();
  await db.insertInto('coordinator_replicas').values({ id, started_at: t0, heartbeat_at: t0 }).execute();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function renew(): Promise<void> {
    const t = now();
    const prev = await db
      .selectFrom('coordinator_replicas')
      .select('heartbeat_at')
      .where('id', '=', id)
      .executeTakeFirst();
    if (prev)
      await db.updateTable('coordinator_replicas').set({ heartbeat_at: t }).where('id', '=', id).execute();
    else
      await db.insertInto('coordinator_replicas').values({ id, started_at: t0, heartbeat_at: t }).execute();
    const revived = !prev || t - prev.heartbeat_at > leaseMs;
    await db
      .deleteFrom('coordinator_replicas')
      .where('heartbeat_at', '<', t - FORGET_AFTER_MS)
      .execute();
    await opts.onBeat?.(t, revived);
  }

  const beat = (): Promise<void> => {
    running ??= renew().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    id,
    leaseMs,
    beat,
    start() {
      if (timer || stopped) return;
      timer = setInterval(() => {
        beat().catch((err: unknown) => opts.onError?.(err));
      }, heartbeatMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
      await db.deleteFrom('coordinator_replicas').where('id', '=', id).execute();
    },
  };
}
