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
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { recoverSigner } from '../../protocol/eip712.ts';
import {
  type RetrievalReceiptWire,
  receiptFromWire,
  retrievalReceiptHash,
  retrievalReceiptSchema,
} from '../../protocol/storageMessages.ts';
import {
  STORAGE_RECEIPT_HEADER,
  STORAGE_SERVER_HEADER,
  STORAGE_TICKET_HEADER,
  type StorageCoordinatorMessage,
} from '../../protocol/storageSession.ts';

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
  now?: () => number;
  limits?: Partial<typeof PIECE_SERVER_DEFAULTS>;
}) {
  const lim = { ...PIECE_SERVER_DEFAULTS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const me = deps.address.toLowerCase();
  const tickets = new Map<string, Ticket>();
  const waiting = new Map<string, () => void>();
  /** Per `reader/object`: the highest receipt seen, and bytes served since it. */
  const accounts = new Map<string, { paidUpTo: bigint; owed: bigint }>();
  const keyOf = (reader: string, objectId: string) => `${reader.toLowerCase()}/${objectId.toLowerCase()}`;
  const account = (key: string) => {
    let a = accounts.get(key);
    if (!a) {
      a = { paidUpTo: 0n, owed: 0n };
      accounts.set(key, a);
      if (accounts.size > lim.maxAccounts) accounts.delete(accounts.keys().next().value as string);
    }
    return a;
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
    const a = account(keyOf(wire.reader, `0x${wire.objectId.replace(/^0x/, '')}`));
    const bytes = BigInt(wire.cumulativeBytes);
    if (bytes <= a.paidUpTo) return true;
    // Covers what was owed when it is at least the last one plus the bytes served since.
    a.owed = bytes >= a.paidUpTo + a.owed ? 0n : a.paidUpTo + a.owed - bytes;
    a.paidUpTo = bytes;
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
      const a = account(keyOf(t.reader, `0x${t.objectId}`));
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
      if (a.owed > 0n)
        throw new PlexusError(
          'PLX_STORAGE_RECEIPT_REQUIRED',
          `sign a receipt for the ${a.owed} bytes served since your last one (cumulative >= ${a.paidUpTo + a.owed})`,
          { details: { owedBytes: a.owed.toString(), cumulativeAtLeast: (a.paidUpTo + a.owed).toString() } },
        );
      tickets.delete(ticketId);
      return t;
    },
    /** The piece was sent: the reader owes a receipt for it before its next piece of the object. */
    served(t: Ticket, bytes: number): void {
      account(keyOf(t.reader, `0x${t.objectId}`)).owed += BigInt(bytes);
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
    try {
      const bytes = await o.read(root as Hex);
      if (bytes.length > t.maxBytes)
        throw new PlexusError('PLX_STORAGE_PIECE_INVALID', 'the piece held is larger than the ticket grants');
      o.serving.served(t, bytes.length);
      return reply
        .header('content-type', 'application/octet-stream')
        .header(STORAGE_SERVER_HEADER, o.address.toLowerCase())
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } finally {
      inFlight--;
    }
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
