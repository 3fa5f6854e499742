/**
 * The coordinator: HTTP API for clients and the explorer, WebSocket endpoint for providers,
 * content-addressed blob store, scheduler and work loop, over one SQLite store.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { type Address, getAddress, type LocalAccount } from 'viem';
import { getProvider } from '../chain/actions/provider/getProvider.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { createLogger, type Logger } from '../logger.ts';
import { MAX_JSON_BODY_BYTES, MAX_WS_MESSAGE_BYTES, PROTOCOL_VERSION } from '../protocol/constants.ts';
import { healthSchema } from '../protocol/http/common.ts';
import { createDatasetSeller, type DatasetSeller } from '../sensors/dataset/createDatasetSeller.ts';
import { createIngester, type Ingester, type IngesterOptions } from '../sensors/ingest/createIngester.ts';
import { createSensorMetrics } from '../sensors/ingest/sensorMetrics.ts';
import { type MqttIngest, startMqttIngest } from '../sensors/ingest/startMqttIngest.ts';
import { unsupportedIngester } from '../sensors/ingest/unsupportedIngester.ts';
import { createDayScorer } from '../sensors/scoring/createDayScorer.ts';
import { blobRoutes } from './api/blobRoutes.ts';
import { installErrorHandling } from './api/errorHandling.ts';
import { explorerRoutes } from './api/explorerRoutes.ts';
import { jobRoutes } from './api/jobRoutes.ts';
import { marketRoutes } from './api/marketRoutes.ts';
import { providerRoutes } from './api/providerRoutes.ts';
import { httpServerOptions, installRequestDeadlines, requestTimeoutMs } from './api/requestDeadlines.ts';
import { searchRoutes } from './api/searchRoutes.ts';
import { sensorRoutes } from './api/sensorRoutes.ts';
import { createBlobAccess } from './blobs/blobAccess.ts';
import { createBlobCollector } from './blobs/collectBlobs.ts';
import { createBlobStore } from './blobs/createBlobStore.ts';
import { createReadCapabilities } from './blobs/readCapability.ts';
import { sharedBlobs } from './blobs/sharedBlobs.ts';
import { createValidatorReads } from './blobs/validatorReads.ts';
import { type CoordinatorConfig, coordinatorConfigSchema } from './coordinatorConfig.ts';
import { createEventLog } from './events/createEventLog.ts';
import { createPgEventBridge, EVENTS_CHANNEL } from './events/pgEventBridge.ts';
import { createJobSubmitter } from './jobs/submitJob.ts';
import { CPU_CLASS } from './market/constants.ts';
import { createMarket, defaultFloorPrice, type Market } from './market/createMarket.ts';
import { createEpochClock } from './market/epochClock.ts';
import { createMetrics } from './metrics.ts';
import { createLeastLoadedScheduler } from './scheduler/leastLoadedScheduler.ts';
import { createPredictiveScheduler } from './scheduler/predictiveScheduler.ts';
import type { Scheduler } from './scheduler/types.ts';
import type { EpochTamper } from './settlement/closeEpoch.ts';
import { localSigner, remoteSigner } from './settlement/collectSignatures.ts';
import { createSettlement, type Settlement, type SettlementStepHook } from './settlement/createSettlement.ts';
import { openSettlementChain, type SettlementChain } from './settlement/openSettlementChain.ts';
import { type StorageService, startStorageNetwork } from './storage/startStorageNetwork.ts';
import { createLeaderLock, SETTLEMENT_LOCK_KEY } from './store/leaderLock.ts';
import { readLockWaits } from './store/lockWaits.ts';
import { openStore, type Store } from './store/openStore.ts';
import type { RawConnection } from './store/queryTemplate.ts';
import { registerReplica } from './store/replicaRegistry.ts';
import { createWorkLoop, type WorkLoop } from './work/createWorkLoop.ts';
import { chainFunderOf } from './work/funders.ts';
import { stockShadowJob } from './work/shadowStock.ts';
import { createShadowStockTimer, type ShadowStockTimerOptions } from './work/shadowStockTimer.ts';
import { defaultVerificationEconomics } from './work/workState.ts';

/** The store's raw SQLite connection for query templates, when it has one (PostgreSQL: none). */
function rawOf(store: Store): { raw?: RawConnection } {
  return store.raw ? { raw: store.raw } : {};
}

export { type CoordinatorConfig, coordinatorConfigSchema };

export type Coordinator = {
  app: FastifyInstance;
  store: Store;
  loop: WorkLoop;
  market: Market;
  /** The settlement loop (undefined in development mode, without a chain). */
  settlement: Settlement | undefined;
  /** Sensor ingestion (HTTP and, with mqttUrl, MQTT). */
  ingester: Ingester;
  /** The base URL it listens on, e.g. http://127.0.0.1:8080 */
  url: string;
  log: Logger;
  stop(): Promise<void>;
};

/**
 * Builds and starts a coordinator.
 *
 * @example
 * const c = await startCoordinator({ dataDir: '.plexus/coordinator', port: 0 });
 * console.log(c.url); // http://127.0.0.1:41234
 * await c.stop();
 */
export async function startCoordinator(
  input: CoordinatorConfig,
  opts: {
    scheduler?: Scheduler;
    log?: Logger;
    /** Called after each settlement step (tests inject crashes with it: test/helpers/crashingCoordinator.ts). */
    onSettlementStep?: SettlementStepHook;
    /** Test-only: a dishonest coordinator's alteration of each closed epoch (test/settlement.test.ts). */
    tamperEpoch?: EpochTamper;
    /** Test-only: a throw leaves a training round open, as a crash before its close (trainRounds.ts). */
    beforeTrainRoundClose?: (jobId: string, round: number) => void;
    /** Test-only: the shadow stock timer's clock, random draw and timer (work/shadowStockTimer.ts). */
    shadowStockClock?: Pick<ShadowStockTimerOptions, 'now' | 'random' | 'setTimer' | 'clearTimer'>;
  } = {},
): Promise<Coordinator> {
  const config = coordinatorConfigSchema.parse(input);
  const log = opts.log ?? createLogger('coordinator', { level: config.logLevel });
  const store: Store = config.store
    ? await openStore({ url: config.store })
    : await openStore({ path: join(config.dataDir, 'plexus.db') });
  const { db } = store;
  const metrics = createMetrics();
  // With replicas (PostgreSQL) blob bytes are in the database too: any replica reads any blob.
  const blobs = await createBlobStore({
    dir: join(config.dataDir, 'blobs'),
    db,
    ...rawOf(store),
    ...(store.dialect === 'postgres' ? { shared: sharedBlobs(db) } : {}),
  });
  // Replicas on one PostgreSQL database wake each other's event streams (docs/scaling.md).
  const eventBridge =
    store.dialect === 'postgres'
      ? createPgEventBridge({
          url: store.url,
          send: (payload) => sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${payload})`.execute(db),
          onError: (err) => log.warn({ err: String(err) }, 'event bridge'),
        })
      : undefined;
  // Another replica's events may mean tasks queued there (a job submitted): dispatch them here too.
  const remoteWake = { dispatch: () => {} };
  const events = createEventLog(
    db,
    store.raw,
    eventBridge ? { bridge: eventBridge, onRemote: () => remoteWake.dispatch() } : {},
  );
  const scheduler =
    opts.scheduler ??
    (config.scheduler === 'predictive' ? createPredictiveScheduler() : createLeastLoadedScheduler());
  // Money: with a deployment, escrow is checked and epochs settle on chain; without, development mode.
  let chain: SettlementChain | undefined;
  if (config.deployment) {
    chain = await openSettlementChain({
      db,
      rpcUrl: config.rpcUrl,
      deploymentFile: config.deployment,
      keystores: config.validatorKeystores,
      password: config.validatorPassword,
      independentValidators: config.validatorUrls.length > 0,
      ...(config.submitterKeystore ? { submitterKeystore: config.submitterKeystore } : {}),
      epochSeconds: config.epochSeconds,
      log,
    });
  }
  const genesisMs = chain?.genesisMs ?? (await localGenesis(db));
  // Job signatures are bound to this coordinator network (docs/protocol.md): the escrow contract,
  // or in development mode a random id kept in the store (so it survives restarts).
  const verifyingContract = chain?.info.escrow ?? (await localNetworkId(db));
  let loop: WorkLoop | undefined;
  /** Started with the HTTP routes below; the settlement loop pays storage holders through it. */
  let storage: StorageService | undefined;
  const market = createMarket({
    db,
    clock: createEpochClock(genesisMs, config.epochSeconds * 1000),
    chain: chain?.writer,
    log,
    onEligible: () => void loop?.dispatch(),
    ...rawOf(store),
  });
  const epochSigner = chain
    ? config.validatorUrls.length > 0
      ? remoteSigner(
          config.validatorUrls,
          { chainId: chain.info.chainId, settlement: chain.info.settlement },
          chain.validatorSet,
          chain.threshold,
          log.child({ component: 'settlement' }),
        )
      : localSigner(
          chain.validators,
          { chainId: chain.info.chainId, settlement: chain.info.settlement },
          chain.validators.length,
        )
    : undefined;
  const settlement = chain
    ? createSettlement({
        db,
        market,
        writer: chain.writer,
        signer: epochSigner!,
        chainId: chain.info.chainId,
        verifyingContract,
        emissionPerEpoch: BigInt(config.emissionPerEpoch),
        sensorEmissionPerEpoch: BigInt(config.sensorEmissionPerEpoch),
        log: log.child({ component: 'settlement' }),
        metrics,
        ...(opts.onSettlementStep ? { onStep: opts.onSettlementStep } : {}),
        ...(opts.tamperEpoch ? { tamper: opts.tamperEpoch } : {}),
        ...(store.dialect === 'postgres' ? { lockWaits: () => readLockWaits(store.url) } : {}),
        beforeClose: async (epoch) => storage?.payEpoch(epoch),
      })
    : undefined;
  // With a chain, the audit bound and slashes are priced from the market, not placeholders: R is
  // one reference unit (a cpu-core-second) at the base price, C the default floor for it (what an
  // honest provider says the unit costs it), F = min(on-chain minStake, 20·R). docs/market.md.
  const verification = chain
    ? {
        ...defaultVerificationEconomics(),
        reward: await market.basePrice(db, CPU_CLASS, await market.currentEpoch(db)),
        honestCost: defaultFloorPrice(CPU_CLASS),
        stake: chain.minStake,
      }
    : undefined;
  // This process's replica row and heartbeat: the provider sessions it opens are its own, and only
  // sessions of replicas that stopped heartbeating are closed by the others (docs/scaling.md).
  const replica = await registerReplica(db, {
    onBeat: (t, revived) => loop!.replicaBeat({ t, revived }),
    onError: (err) => log.warn({ err: String(err) }, 'replica heartbeat failed'),
  });
  loop = createWorkLoop({
    db,
    blobs,
    events,
    scheduler,
    chainId: config.chainId,
    log,
    metrics,
    market,
    ...(verification ? { verification } : {}),
    capability: { intervalMs: config.capabilityRecheckMs },
    canaries: { rate: config.canaryRate },
    ...rawOf(store),
    shared: store.dialect === 'postgres',
    replica: { id: replica.id, leaseMs: replica.leaseMs },
    ...(opts.beforeTrainRoundClose ? { beforeTrainRoundClose: opts.beforeTrainRoundClose } : {}),
    // Replicas of a task never share a stake funder (work/kinship.ts, work/funders.ts).
    ...(chain ? { funderOf: chainFunderOf(chain.writer) } : {}),
  });
  remoteWake.dispatch = () => void loop.dispatch();
  // Shadow jobs stocked on a timer of their own at the real submission rate (work/shadowStockTimer.ts).
  const shadowStock =
    config.canaryRate > 0
      ? createShadowStockTimer({
          stock: (at) => stockShadowJob(db, events, at),
          onStocked: () => metrics.jobsSubmitted.inc(),
          onError: (err) => log.error({ err }, 'shadow job stock failed'),
          ...opts.shadowStockClock,
        })
      : undefined;
  const submitter = createJobSubmitter({
    db,
    blobs,
    events,
    chainId: config.chainId,
    verifyingContract,
    market,
    onSubmitted: () => {
      metrics.jobsSubmitted.inc();
      // Never a shadow job at this instant (it sat 1–5 ms after a real one): the rate only.
      shadowStock?.submitted();
      void loop.dispatch();
    },
  });

  // Sensor network (docs/sensors.md): one ingester behind HTTP and MQTT.
  let queuedReadings = () => 0;
  const sensorMetrics = createSensorMetrics(metrics.registry, () => queuedReadings());
  const ingestOptions: IngesterOptions = {
    chainId: config.chainId,
    deviceReadingsPerSec: config.sensorReadingsPerSec,
    maxQueuedReadings: config.sensorMaxQueuedReadings,
    onStored: (o, source) => {
      sensorMetrics.batchesStored.inc({ source });
      sensorMetrics.readingsStored.inc({ source }, o.stored);
      if (o.duplicates > 0) sensorMetrics.readingsDuplicate.inc(o.duplicates);
    },
    onRejected: (code, source) => sensorMetrics.batchesRejected.inc({ source, code }),
  };
  // Sensor ingestion writes through SQLite's synchronous statements; on PostgreSQL it refuses.
  const ingester = store.sqlite ? createIngester(store.sqlite, ingestOptions) : unsupportedIngester();
  queuedReadings = () => ingester.queuedReadings();
  const dayScorer = createDayScorer({ db, log: log.child({ component: 'sensors' }) });
  const seller: DatasetSeller = createDatasetSeller({
    db,
    market,
    chainId: config.chainId,
    pricePerReading: BigInt(config.sensorPricePerReading),
  });
  const chainWriter = chain?.writer;
  const isProvider = chainWriter
    ? async (owner: Address) => {
        try {
          return (await getProvider(chainWriter, owner)).registered;
        } catch (cause) {
          throw new PlexusError('PLX_CHAIN_UNAVAILABLE', 'could not read the provider registry', { cause });
        }
      }
    : undefined;

  // Slow requests (slowloris) are bounded by their size at a minimum rate: docs/security.md.
  const deadlines = {
    headersTimeoutMs: config.headersTimeoutMs,
    graceMs: config.requestGraceMs,
    minBytesPerSec: config.minRequestBytesPerSec,
    maxBodyBytes: Math.max(config.maxBlobBytes, MAX_JSON_BODY_BYTES),
  };
  const app = Fastify({
    bodyLimit: MAX_JSON_BODY_BYTES,
    http: httpServerOptions(deadlines),
    requestTimeout: requestTimeoutMs(deadlines),
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    // Route ids are random so they never leak the order of requests.
    genReqId: () => Math.random().toString(36).slice(2, 12),
    // Fastify's per-request logs are noise at info; keep its warnings unless the whole log is quieter.
    loggerInstance: log.child(
      { component: 'http' },
      { level: config.logLevel === 'debug' || log.levelVal > 40 ? log.level : 'warn' },
    ) as FastifyBaseLogger,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app, log, metrics);
  installRequestDeadlines(app, deadlines);
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Plexus coordinator API',
        version: String(PROTOCOL_VERSION),
        description: 'Blobs, jobs, job events and providers. Errors carry PLX_ codes: see docs/errors.md.',
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyRateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // Thrown, so the one error handler answers it like every other error (with a retry-after header).
    errorResponseBuilder: (_req, ctx) =>
      new PlexusError('PLX_RATE_LIMITED', `more than ${ctx.max} requests per minute; retry in ${ctx.after}`, {
        details: { retryAfter: ctx.after },
      }),
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_WS_MESSAGE_BYTES } });
  // Uploads are signed and under quota, reads need a right (docs/security.md, "Who can read what").
  const readTokens = createReadCapabilities();
  const blobAccess = createBlobAccess({
    readTokens,
    store,
    db,
    chainId: config.chainId,
    quota: { bytes: config.blobQuotaBytes, count: config.blobQuotaCount },
    ...(chain
      ? {
          mayUpload: async (a: Address) => (await market.availableEscrow(a)).balance > 0n,
          // Not yet read (the read follows the session's start): trusted until it says 0, so a
          // capability answer right after `welcome` is not refused.
          isStaked: (a: string) => (market.stakeOf(a) ?? 1n) > 0n,
          // Validators read exactly the blobs the epochs they check refer to (docs/validators.md).
          canRead: createValidatorReads({ store, validators: () => chain.validatorSet }),
        }
      : {}),
  });
  await app.register(blobRoutes(blobs, config.maxBlobBytes, blobAccess));
  await app.register(
    jobRoutes({
      db,
      events,
      submitter,
      chainId: config.chainId,
      streamLimits: { maxPerIp: config.maxEventStreamsPerIp },
    }),
  );
  storage = await startStorageNetwork({ app, db, blobs, config, log, market, chain: chain?.writer });
  await app.register(
    providerRoutes({
      db,
      loop,
      chainId: config.chainId,
      log,
      metrics,
      chain: chain?.writer,
      stakeOf: (a) => market.stakeOf(a),
      readTokens,
      standingOf: (a) => market.standingOf(a),
      storage,
      maxBlobBytes: config.maxBlobBytes,
    }),
  );
  await app.register(
    explorerRoutes({
      db,
      activeOf: (a) => loop.activeOf(a),
      log,
      chainId: config.chainId,
      epochStart: (now) => market.clock.startsAt(market.clock.epochAt(now)),
    }),
  );
  await app.register(searchRoutes({ db }));
  await app.register(sensorRoutes({ db, ingester, seller, chainId: config.chainId, isProvider }));
  const chainInfo =
    chain && config.blockExplorerUrl
      ? { ...chain.info, blockExplorerUrl: config.blockExplorerUrl }
      : chain?.info;
  await app.register(
    marketRoutes({
      db,
      market,
      chain: chain?.writer,
      chainInfo,
      validatorVotes: epochSigner?.votes,
      // The network's identity signs every claim: the key its replicas send finalize transactions with.
      claimSigner: chain
        ? {
            account: chain.writer.walletClient.account as LocalAccount,
            target: { chainId: chain.info.chainId, settlement: chain.info.settlement },
          }
        : undefined,
    }),
  );
  app.get(
    '/v1/health',
    { schema: { summary: 'Liveness and basic facts', response: { 200: healthSchema } } },
    async () => ({
      ok: true,
      protocolVersion: PROTOCOL_VERSION,
      chainId: config.chainId,
      verifyingContract,
      providersOnline: loop.connectedProviders(),
      uptimeSec: Math.round(process.uptime()),
    }),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  // Sessions left open by a crashed process end at its last heartbeat or the provider's last
  // sighting (uptime is never invented); on PostgreSQL only those whose replica is dead.
  await loop.replicaBeat({ t: Date.now(), startup: true });
  replica.start();
  // Which clients' escrow no longer covers their open jobs is kept in memory: read it before the
  // first provider can connect, or a restart would lease a held client's tasks until the first
  // refresh (a review noticed). A chain that does not answer keeps nobody held, as at any refresh.
  if (chain) await market.refreshEscrowHolds();
  await app.listen({ host: config.host, port: config.port });
  let mqttIngest: MqttIngest | undefined;
  if (config.mqttUrl) {
    try {
      mqttIngest = await startMqttIngest({ url: config.mqttUrl, ingester, metrics: sensorMetrics, log });
    } catch (err) {
      await app.close();
      await store.close();
      throw new Error(`cannot reach the MQTT broker at ${config.mqttUrl}`, { cause: err });
    }
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    loop
      .sweep()
      .catch((err) => log.error({ err }, 'sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, config.sweepIntervalMs);
  // Blob collection deletes rows and files in one synchronous SQLite section; not on PostgreSQL yet.
  const collector = store.sqlite
    ? createBlobCollector({ sqlite: store.sqlite, blobs, graceMs: config.blobGraceMs })
    : { collect: () => 0 };
  const blobGc = setInterval(() => {
    try {
      const removed = collector.collect();
      if (removed > 0) log.info({ removed }, 'unreferenced blobs collected');
    } catch (err) {
      log.error({ err }, 'blob collection failed');
    }
  }, config.blobGcIntervalMs);
  // Work queued before a restart is picked up as providers reconnect; expired leases right away.
  void loop.sweep();
  void loop
    .resumeTraining()
    .catch((err: unknown) => log.error({ err: String(err) }, 'resuming training failed'));
  // On PostgreSQL several replicas may share the database: only the holder of the settlement
  // advisory lock settles, and another replica takes over when it dies (docs/scaling.md).
  const leader =
    settlement && store.dialect === 'postgres'
      ? createLeaderLock({
          url: store.url,
          key: SETTLEMENT_LOCK_KEY,
          retryMs: Math.max(1000, config.settleIntervalMs),
          onAcquired: () => {
            log.info('settlement leader: this replica settles epochs');
            settlement.start(config.settleIntervalMs);
          },
          onLost: () => {
            log.warn('settlement leadership lost');
            void settlement.stop();
          },
          onError: (err) => log.warn({ err: String(err) }, 'settlement leader lock'),
        })
      : undefined;
  if (leader) leader.start();
  else settlement?.start(config.settleIntervalMs);
  // Device-day quality scores (datasets filter on them), once per finished UTC day.
  dayScorer.start(10 * 60_000);
  // Stakes change on chain (slashes, unbonding, top-ups): re-read connected providers' status;
  // escrows change too (withdrawals): re-check that open jobs are still covered.
  const stakeRefresher = chain
    ? setInterval(() => {
        void market.refreshStakes();
        void market.refreshEscrowHolds();
      }, config.chainRefreshMs)
    : undefined;
  log.info({ url, dataDir: config.dataDir, chainId: config.chainId }, 'coordinator listening');

  return {
    app,
    store,
    loop,
    market,
    settlement,
    ingester,
    url,
    log,
    async stop() {
      await mqttIngest?.stop();
      await ingester.stop();
      await dayScorer.stop();
      clearInterval(sweeper);
      clearInterval(blobGc);
      loop.close();
      await shadowStock?.stop();
      if (stakeRefresher) clearInterval(stakeRefresher);
      await leader?.stop();
      await settlement?.stop();
      for (const client of fastifyWebsocketClients(app)) client.terminate();
      await app.close();
      await replica.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'replica row not removed'));
      await eventBridge?.stop();
      await store.close();
    },
  };
}

function fastifyWebsocketClients(app: FastifyInstance): Iterable<{ terminate(): void }> {
  return (
    (app as unknown as { websocketServer?: { clients: Set<{ terminate(): void }> } }).websocketServer
      ?.clients ?? []
  );
}

/** Development mode's epoch clock starts at the store's first start (kept in the store). */
async function localGenesis(db: Store['db']): Promise<number> {
  const row = await db
    .selectFrom('market_meta')
    .select('value')
    .where('key', '=', 'local_genesis_ms')
    .executeTakeFirst();
  if (row) return Number(row.value);
  const t = Date.now();
  await db
    .insertInto('market_meta')
    .values({ key: 'local_genesis_ms', value: String(t) })
    .execute();
  return t;
}

/**
 * Development mode's network id: 20 random bytes made at the store's first start (kept in the
 * store), standing in for the escrow address in the job signature's domain.
 */
async function localNetworkId(db: Store['db']): Promise<Address> {
  const row = await db
    .selectFrom('market_meta')
    .select('value')
    .where('key', '=', 'local_network_id')
    .executeTakeFirst();
  if (row) return getAddress(row.value);
  const id = getAddress(`0x${randomBytes(20).toString('hex')}`);
  await db.insertInto('market_meta').values({ key: 'local_network_id', value: id }).execute();
  return id;
}
