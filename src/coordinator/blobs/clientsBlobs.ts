/**
 * Which blobs a client may name in a job (as its model, inputs or shards). Cids are public (the
 * explorer lists every job's inputs and outputs), and naming a cid in a job opens it to the job's
 * intake checks (whose errors describe it), to the providers that run the job (a tiny input even
 * travels inside the assignment) and, through the outputs, to the job's client: a job that names
 * another account's input, or another client's output, with a model that copies its input would
 * hand those bytes to whoever submitted it (security review, stop 8).
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Database } from '../store/schema.ts';

/**
 * Throws PLX_BLOB_FORBIDDEN unless every cid is the client's to name: one it uploaded itself; an
 * output (or trained weights) of one of its own jobs, so jobs chain; or a blob nobody uploaded that
 * is no other client's output or training blob (stored by the coordinator itself).
 *
 * @example await assertClientsBlobs(db, client, [spec.model, ...spec.inputs]);
 */
export async function assertClientsBlobs(
  db: Kysely<Database>,
  client: string,
  cids: string[],
): Promise<void> {
  const account = client.toLowerCase();
  const wanted = [...new Set(cids)];
  if (wanted.length === 0) return;
  const uploads = await db
    .selectFrom('blob_uploads')
    .select(['cid', 'account'])
    .where('cid', 'in', wanted)
    .execute();
  const uploadedBy = new Map<string, Set<string>>();
  for (const u of uploads) uploadedBy.set(u.cid, (uploadedBy.get(u.cid) ?? new Set()).add(u.account));
  const unsure = wanted.filter((cid) => !uploadedBy.get(cid)?.has(account));
  if (unsure.length === 0) return;
  // Job outputs, executions' outputs and training blobs among the rest, with the client of each.
  const made = await db
    .selectFrom('tasks as t')
    .innerJoin('jobs as j', 'j.id', 't.job_id')
    .select(['t.output_cid as cid', 'j.client as client'])
    .where('t.output_cid', 'in', unsure)
    .union(
      db
        .selectFrom('task_executions as e')
        .innerJoin('tasks as t', 't.id', 'e.task_id')
        .innerJoin('jobs as j', 'j.id', 't.job_id')
        .select(['e.output_cid as cid', 'j.client as client'])
        .where('e.output_cid', 'in', unsure),
    )
    .union(
      db
        .selectFrom('train_blobs as b')
        .innerJoin('jobs as j', 'j.id', 'b.job_id')
        .select(['b.cid as cid', 'j.client as client'])
        .where('b.cid', 'in', unsure),
    )
    .execute();
  for (const cid of unsure) {
    const clients = new Set(made.filter((m) => m.cid === cid).map((m) => m.client.toLowerCase()));
    if (clients.has(account)) continue; // made by one of its own jobs
    if (clients.size > 0 || uploadedBy.has(cid))
      throw new PlexusError(
        'PLX_BLOB_FORBIDDEN',
        `blob ${cid} belongs to another account: upload your own copy`,
        {
          details: { cid, account },
        },
      );
  }
}
