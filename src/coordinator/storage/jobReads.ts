/**
 * Who besides the owner may read a stored object (docs/storage.md, "Models on the network"): a
 * provider that holds a lease, now, on a task of a job whose model is that object and whose client
 * is the object's owner. So `plexus job submit --model <cid>` lets the job's providers fetch the
 * model's pieces from its holders, and only while they run its tasks; naming someone else's stored
 * object in a job opens nothing.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Leased assignments looked at per check (a provider holds at most its slots' worth). */
const MAX_LEASES = 256;

/**
 * @example if (await leasedModelReader(db, provider, objectId, owner)) grant();
 */
export async function leasedModelReader(
  db: Kysely<Database>,
  reader: string,
  objectId: string,
  owner: string,
): Promise<boolean> {
  const rows = await db
    .selectFrom('assignments as a')
    .innerJoin('jobs as j', 'j.id', 'a.job_id')
    .select(['j.spec', 'j.client'])
    .where(sql<string>`lower(a.provider)`, '=', reader.toLowerCase())
    .where('a.status', '=', 'leased')
    .limit(MAX_LEASES)
    .execute();
  return rows.some((r) => {
    if (r.client.toLowerCase() !== owner) return false;
    try {
      return (JSON.parse(r.spec) as { model?: unknown }).model === objectId;
    } catch {
      return false;
    }
  });
}
