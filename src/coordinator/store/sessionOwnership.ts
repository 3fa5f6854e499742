/**
 * Provider sessions owned per coordinator replica (migration 0022, replicaRegistry.ts): which
 * open sessions belong to dead replicas, which provider is connected to a live one, and closing
 * a dead replica's sessions at its last heartbeat (uptime is never invented past the moment its
 * owner was last known alive).
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

type Executor = Kysely<Database>;

/** An open session whose owner is dead (or unknown), with the latest moment it can have lasted to. */
export type DeadSession = {
  id: number;
  provider: string;
  replica: string | null;
  /** When to close it: the owner's last heartbeat, else the provider's last sighting. */
  endedAt: number;
};

/**
 * Marks the provider's open session(s) without an owner as this replica's.
 *
 * @example
 * await ownOpenSession(trx, address, replica.id);
 */
export function ownOpenSession(ex: Executor, provider: string, replica: string) {
  return ex
    .updateTable('provider_sessions')
    .set({ replica })
    .where('provider', '=', provider.toLowerCase())
    .where('disconnected_at', 'is', null)
    .where('replica', 'is', null)
    .execute();
}

/**
 * Whether the provider has an open session owned by a replica other than `self` that heartbeat
 * at or after `aliveSince`.
 *
 * @example
 * if (await liveSessionElsewhere(trx, address, replica.id, Date.now() - REPLICA_LEASE_MS)) return;
 */
export async function liveSessionElsewhere(
  ex: Executor,
  provider: string,
  self: string,
  aliveSince: number,
): Promise<boolean> {
  const row = await ex
    .selectFrom('provider_sessions')
    .innerJoin('coordinator_replicas', 'coordinator_replicas.id', 'provider_sessions.replica')
    .select('provider_sessions.id')
    .where('provider_sessions.provider', '=', provider.toLowerCase())
    .where('provider_sessions.disconnected_at', 'is', null)
    .where('provider_sessions.replica', '!=', self)
    .where('coordinator_replicas.heartbeat_at', '>=', aliveSince)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Providers (lowercase) among `providers` with an open session on a replica that heartbeat at or
 * after `aliveSince` (this one included).
 *
 * @example
 * const live = await providersOnLiveReplicas(trx, ['0xab…'], Date.now() - REPLICA_LEASE_MS);
 */
export async function providersOnLiveReplicas(
  ex: Executor,
  providers: string[],
  aliveSince: number,
): Promise<Set<string>> {
  if (providers.length === 0) return new Set();
  const rows = await ex
    .selectFrom('provider_sessions')
    .innerJoin('coordinator_replicas', 'coordinator_replicas.id', 'provider_sessions.replica')
    .select('provider_sessions.provider')
    .where('provider_sessions.provider', 'in', providers)
    .where('provider_sessions.disconnected_at', 'is', null)
    .where('coordinator_replicas.heartbeat_at', '>=', aliveSince)
    .execute();
  return new Set(rows.map((r) => r.provider));
}

/**
 * Open sessions not owned by `self` whose owner is dead: no heartbeat at or after `aliveSince`,
 * no replica row, or no owner at all (written before 0022). With `aliveSince` undefined every
 * other replica's session counts as dead (SQLite: one process per store, so at start every open
 * session is a crashed predecessor's, however recent its heartbeat).
 *
 * @example
 * const dead = await deadSessions(db, replica.id, Date.now() - REPLICA_LEASE_MS);
 */
export async function deadSessions(
  ex: Executor,
  self: string,
  aliveSince: number | undefined,
): Promise<DeadSession[]> {
  let q = ex
    .selectFrom('provider_sessions')
    .leftJoin('coordinator_replicas', 'coordinator_replicas.id', 'provider_sessions.replica')
    .select([
      'provider_sessions.id',
      'provider_sessions.provider',
      'provider_sessions.replica',
      'provider_sessions.connected_at',
      'coordinator_replicas.heartbeat_at',
    ])
    .where('provider_sessions.disconnected_at', 'is', null)
    .where((eb) =>
      eb.or([eb('provider_sessions.replica', 'is', null), eb('provider_sessions.replica', '!=', self)]),
    );
  if (aliveSince !== undefined) {
    const since = aliveSince;
    q = q.where((eb) =>
      eb.or([
        eb('coordinator_replicas.heartbeat_at', 'is', null),
        eb('coordinator_replicas.heartbeat_at', '<', since),
      ]),
    );
  }
  const rows = await q.orderBy('provider_sessions.id').limit(10_000).execute();
  const unowned = [...new Set(rows.filter((r) => r.heartbeat_at === null).map((r) => r.provider))];
  const lastSeen = new Map<string, number>();
  if (unowned.length > 0) {
    const seen = await ex
      .selectFrom('providers')
      .select([sql<string>`lower(address)`.as('provider'), 'last_seen'])
      .where(sql<string>`lower(address)`, 'in', unowned)
      .execute();
    for (const p of seen) lastSeen.set(p.provider, p.last_seen);
  }
  return rows.map((r) => ({
    id: r.id,
    provider: r.provider,
    replica: r.replica,
    endedAt: Math.max(r.connected_at, r.heartbeat_at ?? lastSeen.get(r.provider) ?? r.connected_at),
  }));
}

/**
 * Closes one session at `endedAt` if it is still open; true when this call closed it (another
 * replica's reaper may have been first).
 *
 * @example
 * await closeSession(trx, s.id, s.endedAt);
 */
export async function closeSession(ex: Executor, id: number, endedAt: number): Promise<boolean> {
  const r = await ex
    .updateTable('provider_sessions')
    .set({ disconnected_at: endedAt })
    .where('id', '=', id)
    .where('disconnected_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Opens a session for a provider this replica holds if none is open for it here (after a stall
 * in which other replicas took this one for dead and closed its sessions).
 *
 * @example
 * await reopenSession(trx, address, replica.id, Date.now());
 */
export async function reopenSession(
  ex: Executor,
  provider: string,
  self: string,
  t: number,
): Promise<boolean> {
  const address = provider.toLowerCase();
  const open = await ex
    .selectFrom('provider_sessions')
    .select('id')
    .where('provider', '=', address)
    .where('replica', '=', self)
    .where('disconnected_at', 'is', null)
    .executeTakeFirst();
  if (open) return false;
  const p = await ex
    .selectFrom('providers')
    .select('slots')
    .where(sql<string>`lower(address)`, '=', address)
    .executeTakeFirst();
  await ex
    .updateTable('provider_sessions')
    .set({ disconnected_at: t })
    .where('provider', '=', address)
    .where('disconnected_at', 'is', null)
    .execute();
  await ex
    .insertInto('provider_sessions')
    .values({
      provider: address,
      slots: p?.slots ?? 0,
      connected_at: t,
      disconnected_at: null,
      replica: self,
    })
    .execute();
  return true;
}
