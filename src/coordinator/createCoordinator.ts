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
import { type Address, getAddress } from 'viem';
import { z } from 'zod';
import { getProvider } from '../chain/actions/provider/getProvider.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { createLogger, type Logger } from '../logger.ts';
import {
  DEFAULT_MAX_BLOB_BYTES,
  MAX_JSON_BODY_BYTES,
  MAX_WS_MESSAGE_BYTES,
  PROTOCOL_VERSION,
} from '../protocol/constants.ts';
import { healthSchema } from '../protocol/http/common.ts';
import {
  DEFAULT_DEVICE_READINGS_PER_SEC,
  DEFAULT_MAX_QUEUED_READINGS,
  DEFAULT_PRICE_PER_READING,
  DEFAULT_SENSOR_EMISSION_PER_EPOCH,
} from '../sensors/constants.ts';
import { createDatasetSeller, type DatasetSeller } from '../sensors/dataset/createDatasetSeller.ts';
import { createIngester, type Ingester } from '../sensors/ingest/createIngester.ts';
import { createSensorMetrics } from '../sensors/ingest/sensorMetrics.ts';
import { type MqttIngest, startMqttIngest } from '../sensors/ingest/startMqttIngest.ts';
import { createDayScorer } from '../sensors/scoring/createDayScorer.ts';
import { blobRoutes } from './api/blobRoutes.ts';
import { installErrorHandling } from './api/errorHandling.ts';
import { explorerRoutes } from './api/explorerRoutes.ts';
import { jobRoutes } from './api/jobRoutes.ts';
import { marketRoutes } from './api/marketRoutes.ts';
import { providerRoutes } from './api/providerRoutes.ts';
import {
  DEFAULT_REQUEST_DEADLINES,
  httpServerOptions,
  installRequestDeadlines,
  requestTimeoutMs,
} from './api/requestDeadlines.ts';
import { searchRoutes } from './api/searchRoutes.ts';
import { sensorRoutes } from './api/sensorRoutes.ts';
import { createBlobAccess, DEFAULT_BLOB_QUOTA } from './blobs/blobAccess.ts';
import { createBlobCollector, DEFAULT_BLOB_GRACE_MS } from './blobs/collectBlobs.ts';
import { createBlobStore } from './blobs/createBlobStore.ts';
import { createReadCapabilities } from './blobs/readCapability.ts';
import { createValidatorReads } from './blobs/validatorReads.ts';
import { createEventLog } from './events/createEventLog.ts';
import { createJobSubmitter } from './jobs/submitJob.ts';
import { CPU_CLASS, DEFAULT_EMISSION_PER_EPOCH } from './market/constants.ts';
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
import { startStorageNetwork, storageConfigSchema } from './storage/startStorageNetwork.ts';
import { openStore, type Store } from './store/openStore.ts';
import { createWorkLoop, type WorkLoop } from './work/createWorkLoop.ts';
import { defaultVerificationEconomics } from './work/workState.ts';

/** Coordinator configuration: one schema holds the checks and the defaults. */
export const coordinatorConfigSchema = z.strictObject({
  /** Folder for the SQLite store and the blobs. */
  dataDir: z.string().min(1),
  host: z.string().default('127.0.0.1'),
  /** 0 picks a free port (tests, devnet). */
  port: z.int().min(0).max(65535).default(8080),
  /** Chain id in the EIP-712 domain of every signed message. */
  chainId: z.int().positive().default(31337),
  maxBlobBytes: z.int().positive().default(DEFAULT_MAX_BLOB_BYTES),
  /**
   * `predictive` learns each provider's speed per model and places tasks where they finish first;
   * `least-loaded` (scheduler v1) is O(log n) per decision for fleets beyond a few thousand providers.
   */
  scheduler: z.enum(['predictive', 'least-loaded']).default('predictive'),
  /** HTTP requests per minute from one IP address before PLX_RATE_LIMITED (429). */
  rateLimitPerMinute: z.int().min(1).default(6000),
  /** How often leases and deadlines are checked. */
  sweepIntervalMs: z.int().min(50).max(60_000).default(1000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Deployment file (the devnet writes `dataDir/deployment.json`). With it the coordinator checks
   * escrow and settles epochs on chain; without it, development mode (docs/market.md).
   */
  deployment: z.string().min(1).optional(),
  /** Chain RPC; default: the deployment file's `rpcUrl`. */
  rpcUrl: z.url().optional(),
  /** A block explorer the explorer links transaction hashes to (`URL/tx/HASH`), served in /v1/chain. */
  blockExplorerUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Validator keystores (Web3 Secret Storage v3) the coordinator signs epochs with. */
  validatorKeystores: z.array(z.string().min(1)).max(64).default([]),
  /** Password of the validator keystores (never logged). */
  validatorPassword: z.string().default(''),
  /**
   * Independent validators (docs/validators.md) the coordinator pulls epoch signatures from; with
   * them it holds no validator key and `submitterKeystore` sends the transactions.
   */
  validatorUrls: z.array(z.url()).max(64).default([]),
  /** Key that sends finalize transactions with independent validators (password: validatorPassword). */
  submitterKeystore: z.string().min(1).optional(),
  /** Epoch length; must equal the deployment's epochDuration. */
  epochSeconds: z
    .int()
    .min(1)
    .max(30 * 86400)
    .default(3600),
  /** PLX base units minted per epoch and shared by online providers (≤ 50,000 PLX). */
  emissionPerEpoch: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,30})$/)
    .default(DEFAULT_EMISSION_PER_EPOCH.toString()),
  /** MQTT broker the sensor network publishes to (e.g. mqtt://127.0.0.1:1883); MQTT ingest is off without it. */
  mqttUrl: z
    .string()
    .regex(/^mqtts?:\/\//, 'must be an mqtt:// or mqtts:// URL')
    .optional(),
  /** PLX base units per epoch shared by sensor device owners by quality (docs/sensors.md). */
  sensorEmissionPerEpoch: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,30})$/)
    .default(DEFAULT_SENSOR_EMISSION_PER_EPOCH.toString()),
  /** Price of one reading in a dataset, PLX base units. */
  sensorPricePerReading: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,30})$/)
    .default(DEFAULT_PRICE_PER_READING.toString()),
  /** Per-device ingest limit, readings per second sustained (burst: DEFAULT_DEVICE_BURST_READINGS). */
  sensorReadingsPerSec: z.number().positive().default(DEFAULT_DEVICE_READINGS_PER_SEC),
  /** Readings admitted and not yet written before ingestion pushes back. */
  sensorMaxQueuedReadings: z.int().min(1).default(DEFAULT_MAX_QUEUED_READINGS),
  /**
   * Mean time between capability-proof re-challenges of a connected provider (jittered ±50%); the
   * first challenge comes at session start (docs/verification.md).
   */
  capabilityRecheckMs: z
    .int()
    .min(100)
    .max(7 * 86_400_000)
    .default(30 * 60_000),
  /** Share of a provider's assignments that bring a known-answer canary along (0 turns canaries off). */
  canaryRate: z.number().min(0).max(1).default(0.02),
  /** How often the settlement loop looks for an epoch to settle. */
  settleIntervalMs: z.int().min(50).max(60_000).default(1000),
  /**
   * How often on-chain state the work loop depends on is re-read: connected providers' status
   * (active, stake) and the escrow of clients with open jobs (a pending withdrawal holds their
   * unstarted tasks). Must stay well below the escrow's withdrawal delay (≥ 1 epoch).
   */
  chainRefreshMs: z.int().min(100).max(60_000).default(10_000),
  /** Bytes of blobs one client account may keep stored (PLX_BLOB_QUOTA_EXCEEDED beyond). */
  blobQuotaBytes: z.int().min(0).default(DEFAULT_BLOB_QUOTA.bytes),
  /** Number of blobs one client account may keep stored. */
  blobQuotaCount: z.int().min(0).default(DEFAULT_BLOB_QUOTA.count),
  /** Age after which a blob no job or canary references is deleted. */
  blobGraceMs: z.int().min(0).default(DEFAULT_BLOB_GRACE_MS),
  /** How often unreferenced blobs are collected. */
  blobGcIntervalMs: z
    .int()
    .min(50)
    .default(10 * 60_000),
  /** Most time for a request's headers (slow requests: api/requestDeadlines.ts). */
  headersTimeoutMs: z.int().min(100).max(600_000).default(DEFAULT_REQUEST_DEADLINES.headersTimeoutMs),
  /** Time a request body gets on top of its declared length at `minRequestBytesPerSec`. */
  requestGraceMs: z.int().min(100).max(600_000).default(DEFAULT_REQUEST_DEADLINES.graceMs),
  /** The slowest request body served in full (PLX_REQUEST_TIMEOUT below it). */
  minRequestBytesPerSec: z.int().min(1024).default(DEFAULT_REQUEST_DEADLINES.minBytesPerSec),
  storage: storageConfigSchema.prefault({}),
});
export type CoordinatorConfig = z.input<typeof coordinatorConfigSchema>;

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
  } = {},
): Promise<Coordinator> {
  const config = coordinatorConfigSchema.parse(input);
  const log = opts.log ?? createLogger('coordinator', { level: config.logLevel });
  const store = await openStore({ path: join(config.dataDir, 'plexus.db') });
  const { db } = store;
  const metrics = createMetrics();
  const blobs = await createBlobStore({ dir: join(config.dataDir, 'blobs'), db, raw: store.raw });
  const events = createEventLog(db, store.raw);
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
  const market = createMarket({
    db,
    clock: createEpochClock(genesisMs, config.epochSeconds * 1000),
    chain: chain?.writer,
    log,
    onEligible: () => void loop?.dispatch(),
    raw: store.raw,
  });
  const settlement = chain
    ? createSettlement({
        db,
        market,
        writer: chain.writer,
        signer:
          config.validatorUrls.length > 0
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
              ),
        chainId: chain.info.chainId,
        verifyingContract,
        emissionPerEpoch: BigInt(config.emissionPerEpoch),
        sensorEmissionPerEpoch: BigInt(config.sensorEmissionPerEpoch),
        log: log.child({ component: 'settlement' }),
        metrics,
        ...(opts.onSettlementStep ? { onStep: opts.onSettlementStep } : {}),
        ...(opts.tamperEpoch ? { tamper: opts.tamperEpoch } : {}),
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
    raw: store.raw,
  });
  const submitter = createJobSubmitter({
    db,
    blobs,
    events,
    chainId: config.chainId,
    verifyingContract,
    market,
    onSubmitted: () => {
      metrics.jobsSubmitted.inc();
      void loop.dispatch();
    },
  });

  // Sensor network (docs/sensors.md): one ingester behind HTTP and MQTT.
  let queuedReadings = () => 0;
  const sensorMetrics = createSensorMetrics(metrics.registry, () => queuedReadings());
  const ingester = createIngester(store.sqlite, {
    chainId: config.chainId,
    deviceReadingsPerSec: config.sensorReadingsPerSec,
    maxQueuedReadings: config.sensorMaxQueuedReadings,
    onStored: (o, source) => {
      sensorMetrics.batchesStored.inc({ source });
      sensorMetrics.readingsStored.inc({ source }, o.stored);
      if (o.duplicates > 0) sensorMetrics.readingsDuplicate.inc(o.duplicates);
    },
    onRejected: (code, source) => sensorMetrics.batchesRejected.inc({ source, code }),
  });
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
    sqlite: store.sqlite,
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
          canRead: createValidatorReads({ sqlite: store.sqlite, validators: () => chain.validatorSet }),
        }
      : {}),
  });
  await app.register(blobRoutes(blobs, config.maxBlobBytes, blobAccess));
  await app.register(jobRoutes({ db, events, submitter }));
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
      storage: await startStorageNetwork({ app, db, blobs, config, log, market, chain: chain?.writer }),
    }),
  );
  await app.register(explorerRoutes({ db, activeOf: (a) => loop.activeOf(a), log }));
  await app.register(searchRoutes({ db }));
  await app.register(sensorRoutes({ db, ingester, seller, chainId: config.chainId, isProvider }));
  const chainInfo =
    chain && config.blockExplorerUrl
      ? { ...chain.info, blockExplorerUrl: config.blockExplorerUrl }
      : chain?.info;
  await app.register(marketRoutes({ db, market, chain: chain?.writer, chainInfo }));
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

  // Sessions left open by a crash end at the provider's last sighting (uptime is never invented).
  await closeStaleSessions(db);
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
  const collector = createBlobCollector({ sqlite: store.sqlite, blobs, graceMs: config.blobGraceMs });
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
  settlement?.start(config.settleIntervalMs);
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
      if (stakeRefresher) clearInterval(stakeRefresher);
      await settlement?.stop();
      for (const client of fastifyWebsocketClients(app)) client.terminate();
      await app.close();
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

/** Ends sessions a crashed process left open, at each provider's last sighting. */
async function closeStaleSessions(db: Store['db']): Promise<void> {
  const open = await db
    .selectFrom('provider_sessions')
    .innerJoin('providers', 'providers.address', 'provider_sessions.provider')
    .select([
      'provider_sessions.id',
      'providers.last_seen',
      'providers.connected',
      'provider_sessions.connected_at',
    ])
    .where('provider_sessions.disconnected_at', 'is', null)
    .execute();
  for (const s of open) {
    await db
      .updateTable('provider_sessions')
      .set({ disconnected_at: Math.max(s.connected_at, s.last_seen) })
      .where('id', '=', s.id)
      .execute();
  }
}
