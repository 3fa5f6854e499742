/**
 * Telling a holder to drop a piece. A holder keeps a piece by its root, and a root depends on the
 * bytes alone: two objects with an equal segment have pieces with equal roots, and one holder can
 * hold both (its one file serves both). Dropping one of them must not delete the file the other
 * still needs — its holder would then fail that object's challenges and be slashed for a piece
 * the network told it to delete (security review).
 */
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * Sends `store.drop` for `root` to `holder` unless another piece placed on it has the same root
 * (call it after the dropped piece's own row has left `pending`/`healthy`/`repairing`).
 *
 * @example await dropPiece(db, sessions.get(holder), holder, root);
 */
export async function dropPiece(
  db: Kysely<StorageDatabase>,
  session: { send(msg: StorageCoordinatorMessage): boolean } | undefined,
  holder: string,
  root: string,
): Promise<void> {
  if (!session) return;
  const shared = await db
    .selectFrom('storage_pieces')
    .select('root')
    .where('holder', '=', holder)
    .where('root', '=', root)
    .where('status', 'in', ['pending', 'healthy', 'repairing'])
    .executeTakeFirst();
  if (!shared) session.send({ type: 'store.drop', pieceRoot: root as Hex });
}
