/**
 * Checks that keep the storage network from being abused (docs/storage.md, "Limits and abuse"):
 * a client stores only a blob it uploaded itself, and an object's erasure shape is bounded so that
 * coding it on the coordinator stays cheap (at most MAX_STORAGE_PIECES pieces per segment, and no
 * more parity than data, so the coded bytes are at most twice the object).
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Database } from '../store/schema.ts';

/** Most pieces (K + M) a segment may be coded into. */
export const MAX_STORAGE_PIECES = 32;

/**
 * Throws PLX_BLOB_FORBIDDEN unless `account` uploaded blob `cid` (table `blob_uploads`): naming
 * someone else's cid in a `put` must not copy their bytes to holders nor make the signer its owner.
 *
 * @example await assertUploader(db, cid, client);
 */
export async function assertUploader(db: Kysely<Database>, cid: string, account: string): Promise<void> {
  const row = await db
    .selectFrom('blob_uploads')
    .select('cid')
    .where('cid', '=', cid)
    .where('account', '=', account.toLowerCase())
    .executeTakeFirst();
  if (!row)
    throw new PlexusError('PLX_BLOB_FORBIDDEN', `${account} did not upload blob ${cid}; upload it first`, {
      details: { account: account.toLowerCase() },
    });
}

/**
 * Throws PLX_STORAGE_SHAPE_INVALID unless 1 <= K, 1 <= M <= K and K + M <= MAX_STORAGE_PIECES.
 *
 * @example assertErasureShape(16, 16); // the defaults pass
 */
export function assertErasureShape(k: number, m: number): void {
  if (
    !(Number.isInteger(k) && Number.isInteger(m) && k >= 1 && m >= 1 && m <= k && k + m <= MAX_STORAGE_PIECES)
  )
    throw new PlexusError(
      'PLX_STORAGE_SHAPE_INVALID',
      `K=${k} data and M=${m} parity pieces: needs 1 <= M <= K and K + M <= ${MAX_STORAGE_PIECES}`,
      { details: { dataPieces: k, parityPieces: m, maxPieces: MAX_STORAGE_PIECES } },
    );
}
