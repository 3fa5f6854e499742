/**
 * The coordinator's configuration (docs/architecture.md): one zod schema holds every check and
 * every default; `startCoordinator` parses its input with it.
 */
import { z } from 'zod';
import { DEFAULT_MAX_BLOB_BYTES } from '../protocol/constants.ts';
import {
  DEFAULT_DEVICE_READINGS_PER_SEC,
  DEFAULT_MAX_QUEUED_READINGS,
  DEFAULT_PRICE_PER_READING,
  DEFAULT_SENSOR_EMISSION_PER_EPOCH,
} from '../sensors/constants.ts';
import { DEFAULT_REQUEST_DEADLINES } from './api/requestDeadlines.ts';
import { DEFAULT_BLOB_QUOTA } from './blobs/blobAccess.ts';
import { DEFAULT_BLOB_GRACE_MS } from './blobs/collectBlobs.ts';
import { DEFAULT_EMISSION_PER_EPOCH } from './market/constants.ts';
import { storageConfigSchema } from './storage/startStorageNetwork.ts';

/** Coordinator configuration: one schema holds the checks and the defaults. */
export const coordinatorConfigSchema = z.strictObject({
  /** Folder for the SQLite store and the blobs. */
  dataDir: z.string().min(1),
  /**
   * The store: absent, the SQLite file `dataDir/plexus.db`; `postgres://…`, that PostgreSQL
   * database (docs/scaling.md).
   */
  store: z
    .string()
    .regex(/^postgres(ql)?:\/\//i, 'must be a postgres:// URL')
    .optional(),
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
  /** Open event streams (SSE) per IP address before PLX_RATE_LIMITED (429; api/sse.ts). */
  maxEventStreamsPerIp: z.int().min(1).max(1000).default(64),
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
