/**
 * Sensor ingestion (docs/sensors.md): one path for MQTT and HTTP. A batch is validated, its device
 * looked up, its sequence checked against replays, rate limited per device, admitted to a bounded
 * queue, its signature verified once for the whole batch, its readings checked one by one
 * (range, jump), and written with every other queued batch in one SQLite transaction.
 */
import type SQLite from 'better-sqlite3';
import type { Address, Hex } from 'viem';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../../protocol/constants.ts';
import {
  DEFAULT_DEVICE_BURST_READINGS,
  DEFAULT_DEVICE_READINGS_PER_SEC,
  DEFAULT_MAX_QUEUED_READINGS,
  MAX_READING_AGE_MS,
  MAX_READING_FUTURE_MS,
  MAX_READINGS_PER_BATCH,
} from '../constants.ts';
import { createSignatureCheck } from '../identity/createSignatureCheck.ts';
import { sensorMessageHash } from '../identity/sensorMessages.ts';
import { batchPayloadHash, type ReadingBatch, readingBatchSchema } from '../protocol.ts';
import type { StationRules } from '../quality/types.ts';
import { stationModels } from '../stationModels.ts';

/** Reading flags stored with each reading (sensor_readings.flag). */
export const READING_FLAG = { ok: 0, outOfRange: 1, jump: 2 } as const;

export type IngestSource = 'mqtt' | 'http';
export type IngestOutcome = {
  batchId: Hex;
  device: Address;
  sequence: number;
  readings: number;
  stored: number;
  duplicates: number;
  /** Readings that failed the range or jump check (stored, flagged). */
  flagged: number;
};

export type IngesterOptions = {
  chainId: number;
  /** Sustained readings per second per device. */
  deviceReadingsPerSec?: number;
  /** Per-device burst (token bucket size), readings. */
  deviceBurstReadings?: number;
  /** Readings admitted but not yet written, beyond which batches are refused. */
  maxQueuedReadings?: number;
  /** Run the per-reading range and jump checks (default true). */
  checks?: boolean;
  now?: () => number;
  onStored?: (o: IngestOutcome, source: IngestSource) => void;
  onRejected?: (code: string, source: IngestSource) => void;
};

export type Ingester = {
  /** Ingests one batch (parsed JSON). Resolves once stored; throws a PlexusError when refused. */
  ingest(raw: unknown, source: IngestSource): Promise<IngestOutcome>;
  /** Forget a device's cached state (after a (re-)registration). */
  invalidate(device: string): void;
  /** Readings admitted and not yet written. */
  queuedReadings(): number;
  /** Writes whatever is queued now. */
  flush(): Promise<void>;
  stop(): Promise<void>;
};

type DeviceState = {
  address: Address;
  rules: StationRules;
  /** Highest sequence admitted (in the queue or stored). */
  lastSequence: number;
  tokens: number;
  refilledAt: number;
  /** Last value per variable (for the jump check across batches). */
  last: Map<string, { t: number; v: number }>;
  /** Synchronous signature check with the device's public key cached after its first batch. */
  checkSignature: (digest: Hex, signature: Hex) => void;
};

type Pending = {
  outcome: IngestOutcome;
  batch: ReadingBatch;
  /** The digest of the readings the device signed (kept with the batch: validators check it). */
  payloadHash: Hex;
  received: number;
  source: IngestSource;
  rows: { variable: string; t: number; v: number; flag: number }[];
  resolve: (o: IngestOutcome) => void;
  reject: (e: unknown) => void;
};

/**
 * Builds the ingester over the store's raw SQLite connection (bulk writes through prepared
 * statements; see Store.sqlite for why that is safe).
 *
 * @example
 * const ingester = createIngester(store.sqlite, { chainId: 31337 });
 * const outcome = await ingester.ingest(JSON.parse(body), 'http');
 */
export function createIngester(sqlite: SQLite.Database, opts: IngesterOptions): Ingester {
  const now = opts.now ?? Date.now;
  const rate = opts.deviceReadingsPerSec ?? DEFAULT_DEVICE_READINGS_PER_SEC;
  const burst = opts.deviceBurstReadings ?? DEFAULT_DEVICE_BURST_READINGS;
  const maxQueued = opts.maxQueuedReadings ?? DEFAULT_MAX_QUEUED_READINGS;
  const checks = opts.checks ?? true;
  const devices = new Map<string, DeviceState>();
  let queue: Pending[] = [];
  let queued = 0;
  let scheduled = false;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;

  const selectDevice = sqlite.prepare(
    'SELECT address, model, last_sequence AS lastSequence FROM sensor_devices WHERE address = ?',
  );
  const insertBatch = sqlite.prepare(
    `INSERT INTO sensor_batches (id, device, sequence, issued_at, received_at, lat, lon, readings, stored, source,
     payload_hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertReading = sqlite.prepare(
    'INSERT OR IGNORE INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, ?)',
  );
  const updateDevice = sqlite.prepare(
    `UPDATE sensor_devices SET last_sequence = MAX(last_sequence, ?), last_seen = ?,
     readings_total = readings_total + ? WHERE address = ?`,
  );
  const write = sqlite.transaction((batches: Pending[]) => {
    for (const p of batches) {
      const o = p.outcome;
      let stored = 0;
      for (const r of p.rows) stored += insertReading.run(o.device, r.variable, r.t, r.v, r.flag).changes;
      o.stored = stored;
      o.duplicates = o.readings - stored;
      const loc = p.batch.location;
      insertBatch.run(
        o.batchId,
        o.device,
        o.sequence,
        p.batch.issuedAt,
        p.received,
        loc?.lat ?? null,
        loc?.lon ?? null,
        o.readings,
        stored,
        p.source,
        p.payloadHash,
        p.batch.signature,
      );
      updateDevice.run(o.sequence, p.received, stored, o.device);
    }
  });

  function deviceState(address: string): DeviceState {
    const key = address.toLowerCase();
    let d = devices.get(key);
    if (!d) {
      const row = selectDevice.get(key) as
        | { address: Address; model: string; lastSequence: number }
        | undefined;
      if (!row)
        throw new PlexusError('PLX_SENSOR_UNKNOWN_DEVICE', `device ${address} is not registered`, {
          details: { device: address },
        });
      const rules = stationModels[row.model];
      if (!rules) throw new PlexusError('PLX_INTERNAL', `device ${address} has an unknown model`);
      d = {
        address: row.address,
        rules,
        lastSequence: row.lastSequence,
        tokens: burst,
        refilledAt: now(),
        last: new Map(),
        checkSignature: createSignatureCheck(row.address),
      };
      devices.set(key, d);
    }
    return d;
  }

  function schedule(): void {
    if (scheduled || stopped) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushing = flushing.then(flushNow);
    });
  }

  async function flushNow(): Promise<void> {
    if (queue.length === 0) return;
    // A Kysely transaction is open on the shared connection: writing now would join it. Wait.
    while (sqlite.inTransaction) await new Promise((r) => setTimeout(r, 1));
    const batches = queue;
    queue = [];
    try {
      write(batches);
      for (const p of batches) {
        queued -= p.outcome.readings;
        opts.onStored?.(p.outcome, p.source);
        p.resolve(p.outcome);
      }
    } catch (cause) {
      for (const p of batches) {
        queued -= p.outcome.readings;
        // The batch was not stored: let the device send the same sequence again.
        devices.delete(p.outcome.device.toLowerCase());
        p.reject(new PlexusError('PLX_INTERNAL', 'the batch could not be stored', { cause }));
      }
    }
  }

  function refuse(
    code: PlexusError['code'],
    message: string,
    details: Record<string, unknown>,
    source: IngestSource,
  ) {
    opts.onRejected?.(code, source);
    return new PlexusError(code, message, { details });
  }

  return {
    async ingest(raw, source) {
      if (stopped) throw refuse('PLX_SENSOR_BUSY', 'ingestion is stopping', { retryAfterMs: 1000 }, source);
      const parsed = readingBatchSchema.safeParse(raw);
      if (!parsed.success) {
        opts.onRejected?.('PLX_VALIDATION', source);
        throw new PlexusError('PLX_VALIDATION', `batch: ${z.prettifyError(parsed.error)}`, {
          details: {
            issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
          },
        });
      }
      const batch = parsed.data;
      let d: DeviceState;
      try {
        d = deviceState(batch.device);
      } catch (err) {
        if (err instanceof PlexusError) opts.onRejected?.(err.code, source);
        throw err;
      }
      // Content checks before the signature: they are cheap and say exactly what is wrong.
      const t = now();
      let readings = 0;
      for (const s of batch.samples) {
        if (s.t > t + MAX_READING_FUTURE_MS || s.t < t - MAX_READING_AGE_MS)
          throw refuse(
            'PLX_VALIDATION',
            `sample time ${s.t} is more than ${MAX_READING_FUTURE_MS / 60_000} min ahead or ${MAX_READING_AGE_MS / 86_400_000} days behind the coordinator's clock`,
            { t: s.t, now: t },
            source,
          );
        for (const [name, v] of Object.entries(s.values)) {
          if (!(name in d.rules.variables))
            throw refuse(
              'PLX_VALIDATION',
              `variable ${name} is not reported by this device's station model`,
              { variable: name, known: Object.keys(d.rules.variables) },
              source,
            );
          if (v !== null) readings++;
        }
      }
      if (readings > MAX_READINGS_PER_BATCH)
        throw refuse(
          'PLX_VALIDATION',
          `a batch holds at most ${MAX_READINGS_PER_BATCH} readings`,
          { readings },
          source,
        );
      if (batch.sequence <= d.lastSequence)
        throw refuse(
          'PLX_REPLAY',
          `sequence ${batch.sequence} is not above the last one accepted (${d.lastSequence})`,
          { lastSequence: d.lastSequence },
          source,
        );
      if (queued + readings > maxQueued)
        throw refuse(
          'PLX_SENSOR_BUSY',
          `the ingest queue is full (${queued} readings waiting)`,
          { retryAfterMs: 1000 },
          source,
        );
      d.tokens = Math.min(burst, d.tokens + ((t - d.refilledAt) / 1000) * rate);
      d.refilledAt = t;
      if (readings > d.tokens)
        throw refuse(
          'PLX_SENSOR_RATE_LIMITED',
          `device ${batch.device} is over its rate limit of ${rate} readings/s`,
          { retryAfterMs: Math.ceil(((readings - d.tokens) / rate) * 1000), limitPerSec: rate, burst },
          source,
        );
      const message = {
        device: batch.device,
        sequence: BigInt(batch.sequence),
        payloadHash: batchPayloadHash(batch),
        issuedAt: BigInt(batch.issuedAt),
      };
      // Freshness, then one signature check for the whole batch (synchronous: batches of a device
      // are decided in the order they arrive).
      const nowSec = Math.floor(t / 1000);
      if (Math.abs(nowSec - batch.issuedAt) > MAX_MESSAGE_SKEW_SEC)
        throw refuse(
          'PLX_STALE_MESSAGE',
          `ReadingBatch was issued at ${batch.issuedAt}, now is ${nowSec}`,
          { issuedAt: batch.issuedAt, now: nowSec, maxSkewSec: MAX_MESSAGE_SKEW_SEC },
          source,
        );
      const batchId = sensorMessageHash(opts.chainId, 'ReadingBatch', message);
      try {
        d.checkSignature(batchId, batch.signature);
      } catch (err) {
        if (err instanceof PlexusError) opts.onRejected?.(err.code, source);
        throw err;
      }
      d.lastSequence = batch.sequence;
      d.tokens -= readings;
      const rows: Pending['rows'] = [];
      let flagged = 0;
      const samples = [...batch.samples].sort((a, b) => a.t - b.t);
      for (const s of samples) {
        for (const [variable, v] of Object.entries(s.values)) {
          if (v === null) continue;
          let flag: number = READING_FLAG.ok;
          if (checks) {
            const rules = d.rules.variables[variable]!;
            const prev = d.last.get(variable);
            if (v < rules.min || v > rules.max) flag = READING_FLAG.outOfRange;
            else if (
              rules.maxJump !== undefined &&
              prev &&
              s.t > prev.t &&
              s.t - prev.t <= 2 * d.rules.stepMs &&
              Math.abs(v - prev.v) > rules.maxJump
            )
              flag = READING_FLAG.jump;
            if (flag !== READING_FLAG.ok) flagged++;
            if (flag !== READING_FLAG.outOfRange && (!prev || s.t > prev.t))
              d.last.set(variable, { t: s.t, v });
          }
          rows.push({ variable, t: s.t, v, flag });
        }
      }
      const outcome: IngestOutcome = {
        batchId,
        device: batch.device.toLowerCase() as Address,
        sequence: batch.sequence,
        readings,
        stored: 0,
        duplicates: 0,
        flagged,
      };
      queued += readings;
      const done = new Promise<IngestOutcome>((resolve, reject) => {
        queue.push({
          outcome,
          batch,
          payloadHash: message.payloadHash,
          received: t,
          source,
          rows,
          resolve,
          reject,
        });
      });
      schedule();
      return done;
    },
    invalidate(device) {
      devices.delete(device.toLowerCase());
    },
    queuedReadings: () => queued,
    async flush() {
      flushing = flushing.then(flushNow);
      await flushing;
    },
    async stop() {
      stopped = true;
      flushing = flushing.then(flushNow);
      await flushing;
    },
  };
}
