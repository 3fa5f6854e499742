/**
 * Tickets for direct serving (docs/storage.md, "Direct serving"): `POST /v1/storage/tickets/:root`
 * with a read grant's token names a connected holder of the piece that serves directly (it offered
 * a `serveUrl`) and a one-use ticket for that piece, sent to the holder over its session
 * (`store.ticket`) before the reader gets it. The piece's bytes are counted as granted to that
 * server for this reader and object (`storage_receipts.served_bytes`, like a relayed piece): a
 * receipt redeems at most what was granted, and a reader other than the owner is held to its read
 * limit (PLX_STORAGE_READ_LIMIT) before any ticket is issued. A repair's grant gets no tickets: its
 * sources come through the relay, which proves the repairer fetched them (orderProof.ts).
 *
 * A ticket's count is a reservation until its server says it is serving it (`store.ticketUse`
 * `serving`, sent before any byte): every ticket is kept (`storage_tickets`, migration 0040), and
 * one never served by `expiresAt + TICKET_GRACE_MS`, or whose piece its server says did not go out
 * in full (`aborted`: the reader went away, a hedge it no longer needed), is given back
 * (`uncountServed`, never below what was redeemed), once. Before, every ticket counted when issued:
 * an aborted hedge still raised the server's ceiling, and a direct fetch that failed and fell back
 * to the relay counted twice against a reader's read limit for good. The limit is checked against
 * the reservations too, so it is never exceeded while a ticket is open.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { StoreTicketUse } from '../../protocol/storageSession.ts';
import type { STORAGE_DEFAULTS } from './constants.ts';
import { assertWithinReadLimit, countServed, uncountServed } from './countServed.ts';
import type { createGrantBook } from './grantBook.ts';
import type { StorageSession } from './storageNetworkTypes.ts';
import type { StorageDatabase } from './storageTables.ts';

/**
 * How long after its expiry a ticket never reported served is given back: its server's clock
 * starts the ticket when `store.ticket` arrives, so its `serving` report may come a little after
 * the coordinator's `expiresAt`.
 */
export const TICKET_GRACE_MS = 30_000;
/** How often tickets are swept when tickets are being issued (the coordinator's timer sweeps too). */
const SWEEP_EVERY_MS = 10_000;
/** Settled tickets are kept this long past their expiry (a late report still finds them), then deleted. */
const KEEP_SETTLED_MS = 60 * 60_000;

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
  let swept = 0;

  /** Gives a ticket's bytes back, once: only from a state in `from` (a conditional update). */
  async function giveBack(ticket: string, from: ('issued' | 'serving')[], server?: string): Promise<boolean> {
    return db.transaction().execute(async (trx) => {
      let q = trx
        .updateTable('storage_tickets')
        .set({ state: 'returned' })
        .where('ticket', '=', ticket)
        .where('state', 'in', from);
      if (server) q = q.where('server', '=', server);
      if (Number((await q.executeTakeFirst()).numUpdatedRows) !== 1) return false;
      const t = await trx
        .selectFrom('storage_tickets')
        .selectAll()
        .where('ticket', '=', ticket)
        .executeTakeFirstOrThrow();
      await uncountServed(trx, now(), t.reader, t.server, t.object_id, t.bytes);
      return true;
    });
  }

  /** A server's `store.ticketUse`: its own tickets only. Returns whether the ticket's state changed. */
  async function use(from: string, m: Pick<StoreTicketUse, 'ticket' | 'use'>): Promise<boolean> {
    const server = from.toLowerCase();
    if (m.use === 'aborted') return giveBack(m.ticket, ['issued', 'serving'], server);
    const r = await db
      .updateTable('storage_tickets')
      .set({ state: 'serving' })
      .where('ticket', '=', m.ticket)
      .where('server', '=', server)
      .where('state', '=', 'issued')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives back every ticket not served by its expiry plus the grace; forgets long-settled ones. Returns how many were given back. */
  async function sweep(at = now()): Promise<number> {
    swept = at;
    const stale = await db
      .selectFrom('storage_tickets')
      .select('ticket')
      .where('state', '=', 'issued')
      .where('expires_at', '<', at - TICKET_GRACE_MS)
      .limit(1000)
      .execute();
    let n = 0;
    for (const { ticket } of stale) if (await giveBack(ticket, ['issued'])) n++;
    await db
      .deleteFrom('storage_tickets')
      .where('state', '!=', 'issued')
      .where('expires_at', '<', at - KEEP_SETTLED_MS)
      .execute();
    return n;
  }

  async function issueTicket(root: string, t: string | undefined): Promise<DirectTicket> {
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
      // Granted to this server for this reader (a reservation until it serves the ticket): the most
      // its receipts can now redeem grows by the piece; given back if the ticket goes unused.
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('storage_tickets')
          .values({
            ticket,
            reader: g.reader,
            server: s.address,
            object_id: r.object_id,
            bytes: r.piece_bytes,
            expires_at: expiresAt,
            state: 'issued',
          })
          .execute();
        await countServed(trx, now(), g.reader, s.address, r.object_id, r.piece_bytes);
      });
      if (now() - swept > SWEEP_EVERY_MS) await sweep();
      return { server: s.address, url, ticket, expiresAt, pieceBytes: r.piece_bytes };
    }
    throw new PlexusError(
      'PLX_STORAGE_NO_DIRECT',
      `no holder of ${root} that serves directly is reachable now`,
    );
  }
  return Object.assign(issueTicket, { use, sweep });
}
