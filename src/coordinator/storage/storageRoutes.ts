/**
 * HTTP side of the storage network (issue 19, docs/storage.md):
 *
 * - `POST /v1/storage/requests`: a client's signed request (`put`, `read`, `remove`, `list`; a
 *   `list` naming an object answers that object's status, pieces, holders, faults, to its owner);
 * - `GET /v1/storage/pieces/:root`: a piece relayed from a holder's session (read grant token;
 *   one unpaid piece per holder at a time: the reader's latest receipt in x-plexus-receipt);
 * - `POST /v1/storage/tickets/:root`: a holder that serves the piece directly and a one-use ticket
 *   for it (read grant token; directTickets.ts), or PLX_STORAGE_NO_DIRECT: use the relay;
 * - `GET /v1/storage/orders/:orderId/piece`: the staged piece a holder was ordered to keep;
 * - `POST /v1/storage/relay/:orderId`: a holder's bytes for a waiting reader;
 * - `POST /v1/storage/receipts`: a reader's receipts, the post signed by that reader (a `receipts`
 *   request naming their digest and count; fresh, used once), at most MAX_RECEIPTS_PER_POST.
 */

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../../protocol/constants.ts';
import { verifySignedDigest } from '../../protocol/eip712.ts';
import type { StorageStatsView } from '../../protocol/http/storage.ts';
import { hex32Schema } from '../../protocol/schemas.ts';
import {
  storageRequestFromWire,
  storageRequestHash,
  storageRequestSchema,
} from '../../protocol/storageMessages.ts';
import {
  STORAGE_RECEIPT_HEADER,
  STORAGE_SERVER_HEADER,
  STORAGE_TOKEN_HEADER,
  type StoreRedeem,
  storeRedeemSchema,
} from '../../protocol/storageSession.ts';
import { MAX_RECEIPTS_PER_POST, receiptsDigest } from '../../storage/receipts.ts';
import type { StorageNetwork } from './createStorageNetwork.ts';
import { receiptFromHeader } from './relayOwed.ts';

const orderIdSchema = z.string().regex(/^[0-9a-f]{32}$/);
/** The object id of a request that names none (a plain `list`). */
const NO_OBJECT = '0'.repeat(64);

/**
 * @example await app.register(storageRoutes({ storage, chainId, maxPieceBytes }));
 */
export function storageRoutes(deps: {
  storage: StorageNetwork & { forwardReceipts(receipts: StoreRedeem['receipt'][]): Promise<number> };
  chainId: number;
  maxPieceBytes: number;
  /** The network's public storage figures (the explorer's Storage page). */
  stats: () => Promise<StorageStatsView>;
}) {
  const { storage, chainId } = deps;
  /** An object's status for its owner; another account learns nothing of it, not even that it exists. */
  const ownedStatus = async (client: string, objectId: string) => {
    const view = await storage.status(objectId).catch(() => undefined);
    if (!view || view.client !== client.toLowerCase())
      throw new PlexusError('PLX_NOT_FOUND', `no stored object ${objectId} of this account`);
    return view;
  };
  return async (app: FastifyInstance) => {
    app.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: deps.maxPieceBytes },
      (_req, body, done) => done(null, body),
    );
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tokenOf = (h: unknown) => (typeof h === 'string' ? h : undefined);
    const posts = createUsedSignatures();

    r.post(
      '/v1/storage/requests',
      {
        schema: {
          summary: 'A signed storage request: put, read, remove or list',
          body: storageRequestSchema,
        },
      },
      async (req) => {
        const { message, signature } = storageRequestFromWire(req.body);
        await verifySignedDigest({
          primaryType: 'StorageRequest',
          issuedAt: message.issuedAt,
          digest: () => storageRequestHash(chainId, message),
          signature,
          expectedSigner: message.client,
        });
        const objectId = message.objectId.slice(2);
        switch (message.action) {
          case 'put':
            return storage.put(message, signature);
          case 'read':
            return storage.grantRead(message.client, objectId);
          case 'remove': {
            // The unused rest of the term's escrow goes back to the client (docs/storage.md, "Money").
            const { refund } = await storage.remove(message.client, objectId);
            return { objectId, status: 'removed', refund: refund.toString() };
          }
          case 'receipts':
            throw new PlexusError('PLX_VALIDATION', 'post receipts to /v1/storage/receipts');
          case 'list':
            // Naming an object: its status (pieces, holders, faults, escrow), to its owner only.
            if (objectId !== NO_OBJECT) return ownedStatus(message.client, objectId);
            return { objects: await storage.list(message.client) };
        }
      },
    );

    r.post(
      '/v1/storage/receipts',
      {
        schema: {
          summary:
            "A reader's signed cumulative receipts, forwarded to the servers they name (who redeem them); the post is signed by the reader (a `receipts` request over their digest)",
          body: z.strictObject({
            request: storageRequestSchema,
            receipts: z.array(storeRedeemSchema.shape.receipt).min(1).max(MAX_RECEIPTS_PER_POST),
          }),
        },
      },
      async (req) => {
        const { receipts } = req.body;
        const { message, signature } = storageRequestFromWire(req.body.request);
        if (message.action !== 'receipts')
          throw new PlexusError('PLX_VALIDATION', 'sign the post as a `receipts` storage request');
        await verifySignedDigest({
          primaryType: 'StorageRequest',
          issuedAt: message.issuedAt,
          digest: () => storageRequestHash(chainId, message),
          signature,
          expectedSigner: message.client,
        });
        // Only the reader posts its own receipts, exactly those it signed the post for, once.
        if (receipts.some((x) => x.reader.toLowerCase() !== message.client.toLowerCase()))
          throw new PlexusError('PLX_BAD_SIGNATURE', 'receipts of another reader: post only your own');
        if (message.objectId.toLowerCase() !== receiptsDigest(receipts) || message.epochs !== receipts.length)
          throw new PlexusError('PLX_BAD_SIGNATURE', 'the signed request does not cover these receipts');
        if (!posts.claim(signature, Number(message.issuedAt)))
          throw new PlexusError('PLX_REPLAY', 'this signed post of receipts was already used');
        return { forwarded: await storage.forwardReceipts(receipts) };
      },
    );

    r.get(
      '/v1/storage/stats',
      {
        schema: { summary: 'What the storage network keeps: objects, bytes, piece health, holders, faults' },
      },
      async () => deps.stats(),
    );

    r.get(
      '/v1/storage/pieces/:root',
      {
        schema: {
          summary: 'A piece, relayed from a holder (x-plexus-storage-token of a read grant)',
          params: z.object({ root: hex32Schema }),
        },
      },
      async (req, reply) => {
        // A reader that closes its request (it has its K pieces) is not counted served this one.
        const gone = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) gone.abort();
        });
        const { bytes, server } = await storage.relayPiece(
          req.params.root,
          tokenOf(req.headers[STORAGE_TOKEN_HEADER]),
          gone.signal,
          // The reader's latest receipt for the holder likely to serve it (relayOwed.ts).
          await receiptFromHeader(req.headers[STORAGE_RECEIPT_HEADER], chainId),
        );
        return reply
          .header('content-type', 'application/octet-stream')
          .header(STORAGE_SERVER_HEADER, server)
          .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    );

    r.post(
      '/v1/storage/tickets/:root',
      {
        schema: {
          summary:
            'A holder serving the piece directly and a one-use ticket for it (x-plexus-storage-token of a read grant)',
          params: z.object({ root: hex32Schema }),
        },
      },
      async (req) => storage.issueTicket(req.params.root, tokenOf(req.headers[STORAGE_TOKEN_HEADER])),
    );

    r.get(
      '/v1/storage/orders/:orderId/piece',
      { schema: { hide: true, params: z.object({ orderId: orderIdSchema }) } },
      async (req, reply) => {
        const bytes = await storage.stagedPiece(
          req.params.orderId,
          tokenOf(req.headers[STORAGE_TOKEN_HEADER]),
        );
        return reply.header('content-type', 'application/octet-stream').send(Buffer.from(bytes));
      },
    );

    r.post(
      '/v1/storage/relay/:orderId',
      { bodyLimit: deps.maxPieceBytes, schema: { hide: true, params: z.object({ orderId: orderIdSchema }) } },
      async (req) => {
        const body = req.body as Buffer;
        storage.relayUpload(
          req.params.orderId,
          tokenOf(req.headers[STORAGE_TOKEN_HEADER]),
          new Uint8Array(body),
        );
        return { ok: true };
      },
    );
  };
}

/** Signed posts remembered at most (the oldest forgotten first; a replay then forwards nothing new). */
const MAX_USED = 50_000;

/**
 * Signatures of posts already used, each until it is stale anyway (issuedAt + skew): a replayed
 * post is refused. Per process: a replay to another replica forwards receipts that are refused as
 * replayed at redemption (the redeemed count only grows).
 *
 * @example const posts = createUsedSignatures(); if (!posts.claim(sig, issuedAt)) refuse();
 */
export function createUsedSignatures(skewSec = MAX_MESSAGE_SKEW_SEC, nowSec = () => Date.now() / 1000) {
  const used = new Map<string, number>();
  return {
    /** True the first time a signature is seen (while fresh); false for a replay. */
    claim(signature: string, issuedAt: number): boolean {
      const key = signature.toLowerCase();
      if (used.has(key)) return false;
      const t = nowSec();
      for (const [k, until] of used) {
        if (until > t && used.size < MAX_USED) break;
        used.delete(k);
      }
      used.set(key, issuedAt + skewSec);
      return true;
    },
    size: () => used.size,
  };
}
