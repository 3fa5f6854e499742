/**
 * Tickets for direct serving (docs/storage.md, "Direct serving"): `POST /v1/storage/tickets/:root`
 * with a read grant's token names a connected holder of the piece that serves directly (it offered
 * a `serveUrl`) and a one-use ticket for that piece, sent to the holder over its session
 * (`store.ticket`) before the reader gets it. The piece's bytes are counted as granted to that
 * server for this reader and object (`storage_receipts.served_bytes`, like a relayed piece): a
 * receipt redeems at most what was granted, and a reader other than the owner is held to its read
 * limit (PLX_STORAGE_READ_LIMIT) before any ticket is issued. A repair's grant gets no tickets: its
 * sources come through the relay, which proves the repairer fetched them (orderProof.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { STORAGE_DEFAULTS } from './constants.ts';
import { assertWithinReadLimit, countServed } from './countServed.ts';
import type { createGrantBook } from './grantBook.ts';
import type { StorageSession } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/** What a reader gets: where to fetch the piece, from whom, with what. */
export type DirectTicket = {
  server: string;
  url: string;
  ticket: string;
  expiresAt: number;
  pieceBytes: number;
};

/**
 * @example const issue = createTicketIssuer({ db, now, cfg, grants, sessions }); await issue(root, token);
 */
export function createTicketIssuer(deps: {
  db: Kysely<StorageDatabase>;
  now: () => number;
  cfg: Pick<typeof STORAGE_DEFAULTS, 'ticketTtlMs' | 'ticketsPerPiece'>;
  grants: ReturnType<typeof createGrantBook>;
  sessions: Map<string, StorageSession>;
}) {
  const { db, now, cfg, grants, sessions } = deps;
  return async function issueTicket(root: string, t: string | undefined): Promise<DirectTicket> {
    const g = grants.live(t);
    if (g.kind !== 'read' || !g.roots.has(root))
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'token does not cover this piece');
    if (g.orderId)
      throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', "a repair's sources come through the relay");
    if ((g.tickets ?? 0) >= cfg.ticketsPerPiece * g.roots.size)
      throw new PlexusError(
        'PLX_RATE_LIMITED',
        'this read grant was issued all its tickets; ask for a new grant',
      );
    const rows = await db
      .selectFrom('storage_pieces')
      .select(['holder', 'object_id', 'piece_bytes'])
      .where('root', '=', root)
      .where('status', '=', 'healthy')
      .execute();
    // Holders serving directly, in random order (readers of one piece spread over its holders).
    const direct = rows
      .flatMap((r) => {
        const s = r.holder ? sessions.get(r.holder) : undefined;
        return s?.offer.serveUrl ? [{ r, s, url: s.offer.serveUrl }] : [];
      })
      .sort(() => Math.random() - 0.5);
    const any = rows[0];
    // The read limit first: a reader past it learns nothing more (as from the relay).
    if (g.readLimitBytes !== undefined && any)
      await assertWithinReadLimit(db, g.reader, any.object_id, g.readLimitBytes, any.piece_bytes);
    if (direct.length === 0)
      throw new PlexusError('PLX_STORAGE_NO_DIRECT', `no connected holder of ${root} serves directly`, {
        details: { holders: rows.length },
      });
    for (const { r, s, url } of direct) {
      const ticket = randomBytes(32).toString('hex');
      const expiresAt = now() + cfg.ticketTtlMs;
      const sent = s.send({
        type: 'store.ticket',
        ticket,
        pieceRoot: root as Hex,
        reader: g.reader,
        objectId: r.object_id,
        maxBytes: r.piece_bytes,
        ttlMs: cfg.ticketTtlMs,
      });
      if (!sent) continue;
      g.tickets = (g.tickets ?? 0) + 1;
      // Granted to this server for this reader: the most its receipts can now redeem grows by the piece.
      await countServed(db, now(), g.reader, s.address, r.object_id, r.piece_bytes);
      return { server: s.address, url, ticket, expiresAt, pieceBytes: r.piece_bytes };
    }
    throw new PlexusError(
      'PLX_STORAGE_NO_DIRECT',
      `no holder of ${root} that serves directly is reachable now`,
    );
  };
}
