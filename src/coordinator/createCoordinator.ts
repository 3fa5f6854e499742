/**
 * The coordinator: HTTP API for clients and the explorer, WebSocket endpoint for providers,
 * content-addressed blob store, scheduler and work loop, over one SQLite store.
 */
import { join } from 'node:path';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';
import { createLogger, type Logger } from '../logger.ts';
import {
  DEFAULT_MAX_BLOB_BYTES,
  MAX_JSON_BODY_BYTES,
  MAX_WS_MESSAGE_BYTES,
  PROTOCOL_VERSION,
} from '../protocol/constants.ts';
import { blobRoutes } from './api/blobRoutes.ts';
import { installErrorHandling } from './api/errorHandling.ts';
import { explorerRoutes } from './api/explorerRoutes.ts';
import { jobRoutes } from './api/jobRoutes.ts';
import { providerRoutes } from './api/providerRoutes.ts';
import { createBlobStore } from './blobs/createBlobStore.ts';
import { createEventLog } from './events/createEventLog.ts';
import { createJobSubmitter } from './jobs/submitJob.ts';
import { createMetrics } from './metrics.ts';
import { createLeastLoadedScheduler } from './scheduler/leastLoadedScheduler.ts';
import { createPredictiveScheduler } from './scheduler/predictiveScheduler.ts';
import type { Scheduler } from './scheduler/types.ts';
import { openStore, type Store } from './store/openStore.ts';
import { createWorkLoop, type WorkLoop } from './work/createWorkLoop.ts';

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
});
export type CoordinatorConfig = z.input<typeof coordinatorConfigSchema>;

export type Coordinator = {
  app: FastifyInstance;
  store: Store;
  loop: WorkLoop;
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
  opts: { scheduler?: Scheduler; log?: Logger } = {},
): Promise<Coordinator> {
  const config = coordinatorConfigSchema.parse(input);
  const log = opts.log ?? createLogger('coordinator', { level: config.logLevel });
  const store = await openStore({ path: join(config.dataDir, 'plexus.db') });
  const { db } = store;
  const metrics = createMetrics();
  const blobs = await createBlobStore({ dir: join(config.dataDir, 'blobs'), db });
  const events = createEventLog(db);
  const scheduler =
    opts.scheduler ??
    (config.scheduler === 'predictive' ? createPredictiveScheduler() : createLeastLoadedScheduler());
  const loop = createWorkLoop({ db, blobs, events, scheduler, chainId: config.chainId, log, metrics });
  const submitter = createJobSubmitter({
    db,
    blobs,
    events,
    chainId: config.chainId,
    onSubmitted: () => {
      metrics.jobsSubmitted.inc();
      void loop.dispatch();
    },
  });

  const app = Fastify({
    bodyLimit: MAX_JSON_BODY_BYTES,
    requestTimeout: 10 * 60_000,
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
  await app.register(blobRoutes(blobs, config.maxBlobBytes));
  await app.register(jobRoutes({ db, events, submitter }));
  await app.register(providerRoutes({ db, loop, chainId: config.chainId, log, metrics }));
  await app.register(explorerRoutes({ db, activeOf: (a) => loop.activeOf(a), log }));
  app.get('/v1/health', { schema: { summary: 'Liveness and basic facts' } }, async () => ({
    ok: true,
    protocolVersion: PROTOCOL_VERSION,
    chainId: config.chainId,
    providersOnline: loop.connectedProviders(),
    uptimeSec: Math.round(process.uptime()),
  }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  await app.listen({ host: config.host, port: config.port });
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
  // Work queued before a restart is picked up as providers reconnect; expired leases right away.
  void loop.sweep();
  log.info({ url, dataDir: config.dataDir, chainId: config.chainId }, 'coordinator listening');

  return {
    app,
    store,
    loop,
    url,
    log,
    async stop() {
      clearInterval(sweeper);
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
