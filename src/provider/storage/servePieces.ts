/**
 * Direct serving (docs/storage.md, "Direct serving"): a provider started with `--serve-address
 * HOST:PORT` serves the pieces it holds itself, over `GET /v1/pieces/:root`, instead of posting
 * them to the coordinator's relay. It serves only
 * - a piece it holds, to a request carrying a ticket the coordinator issued for that piece and
 *   sent to this provider over its session (`store.ticket`): 32 random bytes, one use, a few
 *   seconds, bound to one piece root, one reader and one object. The coordinator counted the
 *   piece's bytes as granted to this server for that reader and object when it issued the ticket
 *   (the read limit applies there), and a receipt never redeems more than was granted;
 * - a reader that paid for what it was served before: a request by a reader this server served
 *   a piece of the object since its last receipt must carry (header `x-plexus-receipt`) a newer
 *   cumulative receipt, signed by that reader for this server, covering it. A reader that does not
 *   pay gets one piece per object from each server, never more.
 * Every receipt seen (in a header, or forwarded by the coordinator) goes to `redeem`. Requests are
 * bounded: no body, a few in flight, a request timeout.
 *
 * Each piece served carries the server's EIP-712 `DirectPiece` signature over its address, the
 * ticket and the root (header `x-plexus-piece-signature`): a reader keeps it only from the holder
 * the coordinator named. The server tells the coordinator over its session when it starts serving
 * a ticket (`store.ticketUse` `serving`, before any byte moves: no session, no piece) and when the
 * piece did not go out in full (`aborted`): the coordinator gives an unused or aborted ticket's
 * bytes back (directTickets.ts). The pay-as-you-go book is kept on disk (servingAccounts.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { recoverSigner } from '../../protocol/eip712.ts';
import {
  type DirectPieceMessage,
  type RetrievalReceiptWire,
  receiptFromWire,
  retrievalReceiptHash,
  retrievalReceiptSchema,
} from '../../protocol/storageMessages.ts';
import {
  STORAGE_PIECE_SIGNATURE_HEADER,
  STORAGE_RECEIPT_HEADER,
  STORAGE_SERVER_HEADER,
  STORAGE_TICKET_HEADER,
  type StorageCoordinatorMessage,
} from '../../protocol/storageSession.ts';
import { createServingAccounts } from './servingAccounts.ts';

type TicketMessage = Omit<Extract<StorageCoordinatorMessage, { type: 'store.ticket' }>, 'type'>;
/** A ticket as kept: expiring on this machine's clock (the coordinator's may differ). */
type Ticket = Omit<TicketMessage, 'ttlMs'> & { expiresAt: number };

/** Limits of a piece server (every one has a default). */
export const PIECE_SERVER_DEFAULTS = {
  /** Tickets kept at once (the oldest dropped). */
  maxTickets: 4096,
  /** How long a request waits for its ticket to arrive over the session (it may race it). */
  ticketWaitMs: 3_000,
  /** Requests served at once (ticket checked); more are answered PLX_RATE_LIMITED. */
  maxInFlight: 16,
  /**
   * Requests waiting for their ticket at once; past it an unknown ticket is refused at once, so
   * requests with made-up tickets cannot hold the serving slots (an honest reader whose ticket
   * was already delivered never waits).
   */
  maxWaiting: 256,
  /** Readers (reader/object pairs) whose payment state is kept (the oldest forgotten). */
  maxAccounts: 10_000,
  /** A request's whole life. */
  requestTimeoutMs: 60_000,
};

/**
 * The tickets and the pay-as-you-go state of a piece server, without HTTP (unit-tested).
 *
 * @example
 * const d = createDirectServing({ address, chainId: async () => 31337, redeem: (r) => send(r) });
 * d.addTicket(msg); // on `store.ticket`
 * const t = await d.admit(ticketHeader, root, receiptHeader); // then serve, then d.served(t, bytes)
 */
export function createDirectServing(deps: {
  address: string;
  chainId: () => Promise<number>;
  /** Hands a receipt this server may redeem to the agent (`store.redeem` on the session). */
  redeem: (receipt: RetrievalReceiptWire) => void;
  /**
   * Tells the coordinator a ticket is being served (`serving`, before any byte) or that its piece
   * did not go out in full (`aborted`): `store.ticketUse` on the session. False: not sent (no
   * session), and a ticket that cannot be reported is not served.
   */
  report?: (ticket: string, use: 'serving' | 'aborted') => boolean;
  /** The pay-as-you-go book's journal (kept across restarts); absent: in memory only. */
  stateFile?: string;
  now?: () => number;
  limits?: Partial<typeof PIECE_SERVER_DEFAULTS>;
}) {
  const lim = { ...PIECE_SERVER_DEFAULTS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const me = deps.address.toLowerCase();
  const tickets = new Map<string, Ticket>();
  const waiting = new Map<string, () => void>();
  /** Per `reader/object`: the highest receipt seen, and bytes served (or being served) since it. */
  const book = createServingAccounts({
    max: lim.maxAccounts,
    ...(deps.stateFile ? { file: deps.stateFile } : {}),
  });
  const keyOf = (reader: string, objectId: string) => `${reader.toLowerCase()}/${objectId.toLowerCase()}`;
  const account = book.get;
  const report = deps.report ?? (() => true);
  /** Takes `bytes` off what a ticket's reader owes (a piece shorter than granted, or not sent). */
  const unowe = (t: Ticket, bytes: bigint) => {
    const key = keyOf(t.reader, `0x${t.objectId}`);
    const a = account(key);
    a.owed = a.owed > bytes ? a.owed - bytes : 0n;
    book.save(key);
  };

  /** A receipt this server can use: its own, validly signed by the reader it names. */
  async function validReceipt(wire: RetrievalReceiptWire): Promise<boolean> {
    const { message, signature } = receiptFromWire(wire);
    if (message.server.toLowerCase() !== me) return false;
    const signer = await recoverSigner(retrievalReceiptHash(await deps.chainId(), message), signature).catch(
      () => '',
    );
    return signer.toLowerCase() === message.reader.toLowerCase();
  }

  /** Records a receipt (from a request header or forwarded by the coordinator); false when unusable. */
  async function sawReceipt(wire: RetrievalReceiptWire): Promise<boolean> {
    if (!(await validReceipt(wire))) return false;
    const key = keyOf(wire.reader, `0x${wire.objectId.replace(/^0x/, '')}`);
    const a = account(key);
    const bytes = BigInt(wire.cumulativeBytes);
    if (bytes <= a.paidUpTo) return true;
    // Covers what was owed when it is at least the last one plus the bytes served since.
    a.owed = bytes >= a.paidUpTo + a.owed ? 0n : a.paidUpTo + a.owed - bytes;
    a.paidUpTo = bytes;
    book.save(key);
    deps.redeem(wire);
    return true;
  }

  return {
    /** A ticket the coordinator sent (`store.ticket`). */
    addTicket(m: TicketMessage): void {
      for (const [k, v] of tickets) if (v.expiresAt < now()) tickets.delete(k);
      const { ttlMs, ...rest } = m;
      const t: Ticket = { ...rest, expiresAt: now() + Math.min(ttlMs, 10 * 60_000) };
      tickets.set(t.ticket, t);
      if (tickets.size > lim.maxTickets) tickets.delete(tickets.keys().next().value as string);
      waiting.get(t.ticket)?.();
    },
    sawReceipt,
    /**
     * Checks a request: its ticket (waited for up to `ticketWaitMs`, then used up), the piece it
     * names, and the reader's payment for what it was served before. Returns the ticket to serve.
     */
    async admit(
      ticketId: string | undefined,
      root: string,
      receiptHeader: string | undefined,
    ): Promise<Ticket> {
      if (!ticketId || !/^[0-9a-f]{64}$/.test(ticketId))
        throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'a direct piece request needs its ticket');
      if (!tickets.has(ticketId) && !waiting.has(ticketId) && waiting.size < lim.maxWaiting)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, lim.ticketWaitMs);
          waiting.set(ticketId, () => {
            clearTimeout(timer);
            resolve();
          });
        }).finally(() => waiting.delete(ticketId));
      const t = tickets.get(ticketId);
      if (!t || t.expiresAt < now())
        throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'unknown or expired ticket');
      if (t.pieceRoot !== root)
        throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'the ticket is for another piece');
      const key = keyOf(t.reader, `0x${t.objectId}`);
      const a = account(key);
      if (receiptHeader !== undefined) {
        let wire: RetrievalReceiptWire | undefined;
        try {
          wire = retrievalReceiptSchema.parse(JSON.parse(receiptHeader));
        } catch {
          wire = undefined;
        }
        const forTicket =
          wire !== undefined &&
          wire.reader.toLowerCase() === t.reader.toLowerCase() &&
          wire.objectId.replace(/^0x/, '').toLowerCase() === t.objectId;
        if (wire && forTicket) await sawReceipt(wire);
      }
      if (a.owed > 0n) {
        // The ticket is spent and given back at once (the reader falls back to the relay, which
        // would otherwise count the piece twice against its read limit until the ticket expired).
        tickets.delete(ticketId);
        report(ticketId, 'aborted');
        throw new PlexusError(
          'PLX_STORAGE_RECEIPT_REQUIRED',
          `sign a receipt for the ${a.owed} bytes served since your last one (cumulative >= ${a.paidUpTo + a.owed})`,
          { details: { owedBytes: a.owed.toString(), cumulativeAtLeast: (a.paidUpTo + a.owed).toString() } },
        );
      }
      if (!report(ticketId, 'serving'))
        throw new PlexusError('PLX_STORAGE_UNAVAILABLE', 'this server is not connected to its coordinator');
      tickets.delete(ticketId);
      // Owed from now (on disk before a byte moves; concurrent requests see it): the granted bytes,
      // trimmed to what was sent once the piece went out, given back if it did not.
      a.owed += BigInt(t.maxBytes);
      book.save(key);
      return t;
    },
    /** The piece went out in full (`bytes` of it): the reader owes a receipt for it before its next piece. */
    served(t: Ticket, bytes: number): void {
      if (bytes < t.maxBytes) unowe(t, BigInt(t.maxBytes - bytes));
    },
    /** The piece did not go out in full (read failed, reader went away): nothing owed, the coordinator told. */
    aborted(t: Ticket): void {
      unowe(t, BigInt(t.maxBytes));
      report(t.ticket, 'aborted');
    },
    /** Tickets held (tests). */
    ticketCount: () => tickets.size,
  };
}

export type DirectServing = ReturnType<typeof createDirectServing>;

/**
 * Starts the piece server on `host:port` (port 0: any free one); `url` is what the session offer
 * advertises.
 *
 * @example const s = await startPieceServer({ listen: '0.0.0.0:7070', serving, read: store.read, address, log });
 */
export async function startPieceServer(o: {
  /** `host:port` to listen on, and to advertise unless `advertise` says otherwise. */
  listen: string;
  advertise?: string;
  serving: DirectServing;
  read: (root: Hex) => Promise<Uint8Array>;
  address: string;
  /** Signs each piece answer with the provider's key (`signDirectPiece`): readers check it. */
  sign: (m: DirectPieceMessage) => Promise<Hex>;
  log: Logger;
  limits?: Partial<typeof PIECE_SERVER_DEFAULTS>;
}): Promise<{ url: string; close(): Promise<void>; app: FastifyInstance }> {
  const lim = { ...PIECE_SERVER_DEFAULTS, ...o.limits };
  const m = /^(.+):(\d{1,5})$/.exec(o.listen);
  if (!m || Number(m[2]) > 65_535)
    throw new PlexusError('PLX_VALIDATION', `--serve-address must be HOST:PORT, got ${o.listen}`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const app = Fastify({
    bodyLimit: 1024,
    requestTimeout: lim.requestTimeoutMs,
    connectionTimeout: lim.requestTimeoutMs,
  });
  let inFlight = 0;
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const e = err instanceof PlexusError ? err : undefined;
    void reply
      .status(e ? e.status : (err.statusCode ?? 500))
      .send(e ? e.toJSON() : { error: { code: 'PLX_INTERNAL', message: err.message } });
  });
  app.get<{ Params: { root: string } }>('/v1/pieces/:root', async (req, reply) => {
    const root = req.params.root;
    const header = (h: string | string[] | undefined) => (typeof h === 'string' ? h : undefined);
    const t = await o.serving.admit(
      header(req.headers[STORAGE_TICKET_HEADER]),
      root,
      header(req.headers[STORAGE_RECEIPT_HEADER]),
    );
    // Counted once the ticket checked out: requests with made-up tickets hold no serving slot.
    if (inFlight >= lim.maxInFlight) throw new PlexusError('PLX_RATE_LIMITED', 'too many piece requests');
    inFlight++;
    let bytes: Uint8Array;
    let signature: Hex;
    try {
      bytes = await o.read(root as Hex);
      if (bytes.length > t.maxBytes)
        throw new PlexusError('PLX_STORAGE_PIECE_INVALID', 'the piece held is larger than the ticket grants');
      const server = o.address.toLowerCase() as Hex;
      signature = await o.sign({ server, ticket: `0x${t.ticket}`, pieceRoot: root as Hex });
    } catch (err) {
      inFlight--;
      o.serving.aborted(t);
      throw err;
    }
    // Owed only once the last byte went out; a reader that went away first owes nothing for it.
    reply.raw.once('close', () => {
      inFlight--;
      if (reply.raw.writableFinished) o.serving.served(t, bytes.length);
      else o.serving.aborted(t);
    });
    return reply
      .header('content-type', 'application/octet-stream')
      .header(STORAGE_SERVER_HEADER, o.address.toLowerCase())
      .header(STORAGE_PIECE_SIGNATURE_HEADER, signature)
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  // A public address may be a port forward to this machine: listened on everywhere; loopback stays local.
  const listenHost = /^(127\.|localhost$|::1$)/.test(host) ? host : '0.0.0.0';
  await app.listen({ host: listenHost, port: Number(m[2]) });
  const port = (app.server.address() as { port: number }).port;
  const adv = o.advertise ?? `${m[1]}:${port}`;
  const url = `http://${adv.replace(/:0$/, `:${port}`)}`;
  o.log.info({ url }, 'serving pieces directly');
  return { url, close: () => app.close(), app };
}
