/**
 * Reads of the `events` table beyond the event log's own streaming reads (createEventLog.ts):
 * the newest id and a provider's session events, for the explorer.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * The id of the newest event, 0 when the log is empty.
 *
 * @example const after = await lastEventId(db); // stream /v1/events?after=after
 */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  const last = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst();
  return Number(last?.id ?? 0);
}

/**
 * A provider's connect and disconnect events (lowercase address), newest first.
 *
 * @example const rows = await listProviderSessions(db, address, 200);
 */
export async function listProviderSessions(db: Kysely<Database>, address: string, limit: number) {
  // Session events carry the address in their JSON body; json_extract keeps this one query.
  return db
    .selectFrom('events')
    .select(['id', 'type', 'data', 'created_at'])
    .where('job_id', 'is', null)
    .where('type', 'in', ['provider.connected', 'provider.disconnected'])
    .where(sql<string>`lower(json_extract(data, '$.address'))`, '=', address)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
