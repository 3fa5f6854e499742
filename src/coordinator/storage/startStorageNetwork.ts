/**
 * Wires the storage network into a coordinator: its routes, its challenge windows (stopped with
 * the HTTP server), and where challenge seeds come from. With a chain, a window's seed is the hash
 * of the latest block read after the window opened; without one (development mode), it is derived
 * from the epoch's audit seed, which is secret until revealed and committed two epochs ahead
 * (verification/auditSeeds.ts): unknown to every holder.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import { z } from 'zod';
import type { PlexusReader } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type {
  StorageOffer,
  StoreRedeem,
  storageProviderMessageSchemas,
} from '../../protocol/storageSession.ts';
import { checkServeUrl, isLocalListenHost } from '../../storage/serveAddress.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { Market } from '../market/createMarket.ts';
import type { Database } from '../store/schema.ts';
import { epochSeed } from '../verification/auditSeeds.ts';
import { networkPrefix } from '../work/kinship.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import { receiptsToForward } from './forwardReceipts.ts';
import { redeemServed } from './redeemServed.ts';
import { paidReceipts, payStorageEpoch } from './storageLedger.ts';
import { storageRoutes } from './storageRoutes.ts';
import { type StorageDatabase, storageDb } from './storageTables.ts';
import { storageStats } from './storageViews.ts';

/**
 * The coordinator's `storage` config (docs/storage.md): challenge window and answer deadline.
 *
 * @example coordinatorConfigSchema.parse({ dataDir, storage: { windowMs: 10_000, deadlineMs: 5_000 } })
 */
export const storageConfigSchema = z.strictObject({
  windowMs: z.int().min(100).default(STORAGE_DEFAULTS.windowMs),
  deadlineMs: z.int().min(10).default(STORAGE_DEFAULTS.deadlineMs),
  /** How long a holder offline at a window's opening has to come back and answer (0: faulted at once). */
  offlineGraceMs: z.int().min(0).default(STORAGE_DEFAULTS.offlineGraceMs),
  /** A pending piece without an open order this long is placed elsewhere (placingSweep.ts). */
  placeTimeoutMs: z.int().min(100).default(STORAGE_DEFAULTS.placeTimeoutMs),
  /** A put not placed this long after it was accepted fails and its term is released. */
  placeDeadlineMs: z.int().min(100).default(STORAGE_DEFAULTS.placeDeadlineMs),
  /** How often stalled orders and uploads are swept. */
  sweepMs: z.int().min(50).default(STORAGE_DEFAULTS.sweepMs),
  /** Price of one GiB of pieces kept one epoch, PLX base units as a decimal string (docs/storage.md). */
  pricePerGiBEpoch: z
    .string()
    .regex(/^[1-9][0-9]{0,30}$/)
    .default(STORAGE_DEFAULTS.pricePerGiBEpoch.toString()),
  /**
   * Whether providers may offer loopback, private or named serve addresses (a local network:
   * docs/storage.md "Serve addresses"). Absent: only when the coordinator listens on loopback
   * (the devnet, tests); a public network accepts public IP addresses only.
   */
  localServeAddresses: z.boolean().optional(),
});

/**
 * @example const storage = await startStorageNetwork({ app, db, blobs, config, log, market });
 */
export type StorageService = Awaited<ReturnType<typeof startStorageNetwork>>;

/** A `store.*` message from a provider's session (validated by `providerMessageSchema`). */
export type StorageProviderMessage = z.infer<(typeof storageProviderMessageSchemas)[number]>;

export async function startStorageNetwork(deps: {
  app: FastifyInstance;
  db: Kysely<Database>;
  blobs: BlobStore;
  config: {
    dataDir: string;
    chainId: number;
    /** Where the coordinator listens (default 127.0.0.1): loopback means a local network. */
    host?: string;
    storage: z.infer<typeof storageConfigSchema>;
  };
  log: Logger;
  market: Market;
  chain?: PlexusReader | undefined;
}) {
  const publicClient = deps.chain?.publicClient;
  const { market } = deps;
  const epochNow = async () => {
    const epoch = await market.currentEpoch(deps.db);
    const prev = epoch - 1;
    const row =
      prev >= 1
        ? await deps.db.selectFrom('epochs').select('status').where('epoch', '=', prev).executeTakeFirst()
        : undefined;
    const open = prev >= 1 && (row === undefined || row.status === 'open');
    const unclosed = open
      ? { epoch: prev, from: market.clock.startsAt(prev), to: market.clock.endsAt(prev) }
      : undefined;
    return { epoch, from: market.clock.startsAt(epoch), ...(unclosed ? { unclosed } : {}) };
  };
  const storage = createStorageNetwork({
    db: deps.db,
    blobs: deps.blobs,
    dataDir: deps.config.dataDir,
    log: deps.log,
    config: {
      windowMs: deps.config.storage.windowMs,
      deadlineMs: deps.config.storage.deadlineMs,
      offlineGraceMs: deps.config.storage.offlineGraceMs,
      placeTimeoutMs: deps.config.storage.placeTimeoutMs,
      placeDeadlineMs: deps.config.storage.placeDeadlineMs,
      sweepMs: deps.config.storage.sweepMs,
      pricePerGiBEpoch: BigInt(deps.config.storage.pricePerGiBEpoch),
    },
    // The stored term's escrow goes through the market's admission (docs/storage.md, "Money").
    money: {
      async check(client, amount) {
        if (!market.escrowChecked) return;
        const a = await market.availableEscrow(client as Address);
        if (a.available < amount)
          throw new PlexusError(
            'PLX_INSUFFICIENT_ESCROW',
            `available escrow ${a.available} is below the stored term's ${amount}`,
            { details: { available: a.available.toString(), required: amount.toString() } },
          );
      },
      // The storage tables live in the same database: the admission's transaction is theirs too.
      admit: (client, amount, store) =>
        market.admitCharge(client as Address, amount, (trx) =>
          store(trx as unknown as Transaction<StorageDatabase>),
        ),
      epochNow,
    },
    seedOf: async (window) => {
      if (publicClient) {
        const block = await publicClient.getBlock({ blockTag: 'latest' });
        return { seed: block.hash as Hex, source: `block:${block.number}` };
      }
      const epoch = await deps.market.currentEpoch(deps.db);
      const secret = await epochSeed(deps.db, epoch);
      const seed = createHash('sha256')
        .update(Buffer.from(secret, 'hex'))
        .update(`plexus-storage-window:${window}`)
        .digest('hex');
      return { seed: `0x${seed}`, source: `audit-seed:${epoch}` };
    },
  });
  const chainId = deps.config.chainId;
  const sessionOf = (a: string) => storage.sessions().find((s) => s.address === a.toLowerCase());
  const grantRead = storage.grantRead;
  const connected = storage.providerConnected;
  const allowLocal =
    deps.config.storage.localServeAddresses ?? isLocalListenHost(deps.config.host ?? '127.0.0.1');
  /** Refuses an offer whose serve URL readers must not be sent to (serveAddress.ts): PLX_STORAGE_SERVE_ADDRESS. */
  const checkOffer = (offer: StorageOffer): void => {
    if (offer.serveUrl !== undefined) checkServeUrl(offer.serveUrl, { allowLocal });
  };
  const service = Object.assign(storage, {
    checkOffer,
    /** A provider's storage session, once its offer passed `checkOffer` (checked again here). */
    providerConnected: async ({
      remoteAddress,
      ...s
    }: Parameters<typeof connected>[0] & { remoteAddress?: string }) => {
      checkOffer(s.offer);
      await connected({ ...s, prefix: networkPrefix(remoteAddress) });
    },
    /** A read grant, with the reader's latest paid receipt per server (it continues its counts from them). */
    grantRead: async (reader: string, objectId: string) => ({
      ...(await grantRead(reader, objectId)),
      // And those the relay took as paid, not redeemed yet (relayOwed.ts): it shows them again.
      receipts: [
        ...(await paidReceipts(deps.db, reader, objectId)),
        ...storage.seenReceipts(reader, objectId),
      ],
    }),
    /** Forwards a reader's receipts to the servers they name (each redeems its own, see `handle`). */
    async forwardReceipts(receipts: StoreRedeem['receipt'][]): Promise<number> {
      // Only receipts that would be paid now, one per key, a few per server (forwardReceipts.ts).
      const worth = await receiptsToForward({ db: storageDb(deps.db), chainId, receipts });
      // Paid, for the relay's pay-as-you-go, even before its server redeems it (relayOwed.ts).
      for (const r of worth) storage.sawReceipt(r);
      return worth.filter((receipt) => sessionOf(receipt.server)?.send({ type: 'store.receipt', receipt }))
        .length;
    },
    /**
     * Pays holders for the proven part of `epoch` and releases finished terms: the settlement loop
     * calls it just before closing the epoch, so these entries are settled with it.
     */
    payEpoch: (epoch: number) =>
      payStorageEpoch(
        storageDb(deps.db),
        { epoch, from: market.clock.startsAt(epoch), to: market.clock.endsAt(epoch) },
        Date.now(),
      ),
    /** Every `store.*` message of a provider's session. */
    async handle(from: string, msg: StorageProviderMessage): Promise<void> {
      if (msg.type === 'store.stored' || msg.type === 'store.refused') {
        const why = msg.type === 'store.refused' ? `${msg.code}: ${msg.message}` : undefined;
        const root = msg.type === 'store.stored' ? msg.pieceRoot : undefined;
        await storage.orderDone(from, msg.orderId, msg.type === 'store.stored', why, root);
      } else if (msg.type === 'store.answer') await storage.handleAnswer(from, msg);
      // A direct server serving a ticket, or whose piece did not go out (directTickets.ts).
      else if (msg.type === 'store.ticketUse') await storage.issueTicket.use(from, msg);
      else {
        const { epoch } = await epochNow();
        const db = storageDb(deps.db);
        const v = await redeemServed(
          { db, chainId, pricePerByte: STORAGE_DEFAULTS.pricePerByte, epoch },
          from,
          msg.receipt,
        );
        sessionOf(from)?.send({
          type: 'store.redeemed',
          objectId: msg.receipt.objectId,
          ok: v.ok,
          ...(v.ok ? {} : { reason: v.reason }),
          payableBytes: (v.ok ? v.payableBytes : 0n).toString(),
          amount: v.amount.toString(),
        });
      }
    },
  });
  await deps.app.register(
    storageRoutes({
      storage: service,
      chainId,
      maxPieceBytes: STORAGE_DEFAULTS.segmentBytes + 1024,
      stats: () => storageStats(storageDb(deps.db)),
    }),
  );
  storage.start();
  // Tickets never served by their expiry give their bytes back (directTickets.ts).
  const ticketSweep = setInterval(() => {
    void storage.issueTicket
      .sweep()
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'ticket sweep failed'));
  }, 10_000);
  deps.app.addHook('onClose', async () => {
    clearInterval(ticketSweep);
    storage.stop();
  });
  return service;
}
