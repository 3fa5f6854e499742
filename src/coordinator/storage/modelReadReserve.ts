/**
 * What a job's model reads may cost its client (docs/storage.md, "Models on the network"): a job
 * whose model is an object its client keeps on the storage network has its providers read the
 * model's pieces, charged to the client (redeemServed.ts, `readFor: job-model`). Each reader other
 * than the owner is served at most `modelReadsPerReader` whole coded copies (the read limit), and
 * a job has at most one reader per paid execution of each task, so admission reserves
 * tasks × paid executions × `modelReadsPerReader` × coded bytes × price per byte on top of the
 * compute worst case: a client whose escrow cannot cover the reads is refused before they happen.
 */
import type { Kysely } from 'kysely';
import type { ObjectManifest } from '../../storage/erasure.ts';
import { paidExecutionsPerTask } from '../market/priceExecution.ts';
import type { Database } from '../store/schema.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { storageDb } from './storageTables.ts';

/**
 * The reserve for a job's model reads (0 when the model is not the client's stored object).
 *
 * @example const reserve = await modelReadReserve(db, { model, client, tasks: 10, policy });
 */
export async function modelReadReserve(
  db: Kysely<Database>,
  job: { model: string; client: string; tasks: number; policy: VerificationPolicy },
  price: Pick<typeof STORAGE_DEFAULTS, 'modelReadsPerReader' | 'pricePerByte'> = STORAGE_DEFAULTS,
): Promise<bigint> {
  const o = await storageDb(db)
    .selectFrom('storage_objects')
    .select(['manifest', 'client'])
    .where('object_id', '=', job.model)
    .where('status', 'in', ['placing', 'stored'])
    .executeTakeFirst();
  // Only the owner's jobs may read it (jobReads.ts): another's stored object is never read for this job.
  if (!o || o.client !== job.client.toLowerCase()) return 0n;
  const m = JSON.parse(o.manifest) as ObjectManifest;
  const coded = m.segments.reduce((a, s) => a + BigInt(s.pieceBytes) * BigInt(s.pieceRoots.length), 0n);
  const readers = BigInt(job.tasks) * BigInt(paidExecutionsPerTask(job.policy));
  return readers * BigInt(price.modelReadsPerReader) * coded * price.pricePerByte;
}
