/**
 * Objects stored before migration 0028 have no signed put (`storage_objects.put_request` null):
 * nothing proves to a validator that their owner agreed to be charged for them. They are
 * **read-only until re-signed** (docs/storage.md, "Objects without a signed put"): the owner reads
 * and removes them as before (its own reads are charged to itself by its own receipts), and holders
 * are paid per proven epoch from the hold taken at the put, but nothing is charged to the owner
 * that needs its signature as evidence: no reader other than the owner is granted a read (a job's
 * provider reads the model as a blob instead), and no repair is ordered (a repair's fee and its
 * source reads are charged to the owner). The owner re-signs by putting the same object again
 * (`plexus store put FILE` with the same K and M, or the SDK's `put`): the signed request is kept
 * as the object's evidence, and repairs waiting for it are ordered at the next window.
 */
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { type StorageRequestMessage, storageRequestToWire } from '../../protocol/storageMessages.ts';
import type { Database } from '../store/schema.ts';
import { leasedModelReader } from './jobReads.ts';
import type { StorageDatabase } from './storageTables.ts';

type ObjectRow = StorageDatabase['storage_objects'];

/**
 * Whether `reader` (not the owner) may read the object: it holds a lease on a task of the owner's
 * job whose model this is, and the object has the owner's signed put (else PLX_STORAGE_UNSIGNED).
 *
 * @example if (o.client !== reader && !(await otherReaderMay(db, reader, o))) refuse();
 */
export async function otherReaderMay(
  db: Kysely<Database>,
  reader: string,
  o: Pick<ObjectRow, 'object_id' | 'client' | 'put_request'>,
): Promise<boolean> {
  if (!(await leasedModelReader(db, reader, o.object_id, o.client))) return false;
  if (!o.put_request)
    throw new PlexusError(
      'PLX_STORAGE_UNSIGNED',
      'the object was stored before signed puts: its owner must put it again (re-sign) before others read it at its cost',
      { details: { objectId: o.object_id } },
    );
  return true;
}

/**
 * A put of an object its client already stores: keeps the signed request as the object's evidence
 * when it had none (stored before 0028) and the request matches its shape; answers its status.
 *
 * @example return resignPut(db, existing, req, signature);
 */
export async function resignPut(
  db: Kysely<StorageDatabase>,
  o: ObjectRow,
  req: StorageRequestMessage,
  signature: Hex | undefined,
): Promise<{ objectId: string; status: string; resigned?: true }> {
  const same = req.dataPieces === o.data_pieces && req.parityPieces === o.parity_pieces;
  if (o.put_request || !signature || !same) return { objectId: o.object_id, status: o.status };
  const r = await db
    .updateTable('storage_objects')
    .set({ put_request: JSON.stringify(storageRequestToWire(req, signature)) })
    .where('object_id', '=', o.object_id)
    .where('client', '=', o.client)
    .where('put_request', 'is', null)
    .executeTakeFirst();
  return {
    objectId: o.object_id,
    status: o.status,
    ...(Number(r.numUpdatedRows) === 1 ? { resigned: true as const } : {}),
  };
}
