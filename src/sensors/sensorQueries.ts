/**
 * Reads of the sensor tables (`sensor_devices`, `sensor_scores`) that the HTTP API serves.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../coordinator/store/schema.ts';

/**
 * Addresses of registered devices in registration order, optionally of one owner (lowercase), at
 * most `limit`.
 *
 * @example const addresses = await listDeviceAddresses(db, { owner, limit: 1000 });
 */
export async function listDeviceAddresses(
  db: Kysely<Database>,
  q: { owner?: string | undefined; limit: number },
): Promise<string[]> {
  let query = db.selectFrom('sensor_devices').select('address').orderBy('registered_at').limit(q.limit);
  if (q.owner) query = query.where('owner', '=', q.owner);
  return (await query.execute()).map((r) => r.address);
}

/**
 * A device's quality scores, newest window first (at most `limit`).
 *
 * @example const scores = await listDeviceScores(db, device.address, 50);
 */
export async function listDeviceScores(db: Kysely<Database>, device: string, limit: number) {
  return db
    .selectFrom('sensor_scores')
    .selectAll()
    .where('device', '=', device)
    .orderBy('window_start', 'desc')
    .limit(limit)
    .execute();
}
