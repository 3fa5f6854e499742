/**
 * Wire shapes of the sensor network's HTTP API (docs/sensors.md): registered devices, their
 * quality scores, and what ingesting a batch answers. Datasets are CSV or Parquet, not JSON.
 */
import { z } from 'zod';

/**
 * A registered device: owner (a provider account), station model, position, activity.
 *
 * @example const d: SensorDeviceView = { address: '0x…', owner: '0x…', model: 'WS2000', lat: 52.5, lon: 13.4, registeredAt: 0, lastSeen: null, readingsTotal: 0 };
 */
export const sensorDeviceViewSchema = z.object({
  address: z.string(),
  owner: z.string(),
  model: z.string(),
  lat: z.number(),
  lon: z.number(),
  registeredAt: z.number(),
  lastSeen: z.number().nullable(),
  readingsTotal: z.number(),
});
/** @example const quiet = (d: SensorDeviceView) => d.lastSeen === null; */
export type SensorDeviceView = z.infer<typeof sensorDeviceViewSchema>;

/**
 * `GET /v1/sensors/devices`: registered devices, oldest first.
 *
 * @example const { devices } = sensorDeviceListSchema.parse(await res.json());
 */
export const sensorDeviceListSchema = z.object({ devices: z.array(sensorDeviceViewSchema) });
/** @example const none: SensorDeviceList = { devices: [] }; */
export type SensorDeviceList = z.infer<typeof sensorDeviceListSchema>;

/**
 * One quality score of a device over a window (`detail` is the scorer's own breakdown).
 *
 * @example const s: SensorScoreView = { kind: 'day', windowStart: 0, windowEnd: 86400000, dataScore: 1, locationScore: 1, score: 1, flags: [], detail: {} };
 */
export const sensorScoreViewSchema = z.object({
  kind: z.string(),
  windowStart: z.number(),
  windowEnd: z.number(),
  dataScore: z.number(),
  locationScore: z.number(),
  score: z.number(),
  flags: z.array(z.string()),
  detail: z.unknown(),
});
/** @example const flagged = (s: SensorScoreView) => s.flags.length > 0; */
export type SensorScoreView = z.infer<typeof sensorScoreViewSchema>;

/**
 * `GET /v1/sensors/devices/:address`: the device with its latest scores, newest first.
 *
 * @example const { scores } = sensorDeviceDetailSchema.parse(await res.json());
 */
export const sensorDeviceDetailSchema = sensorDeviceViewSchema.extend({
  scores: z.array(sensorScoreViewSchema),
});
/** @example const latest = (d: SensorDeviceDetail) => d.scores[0]?.score; */
export type SensorDeviceDetail = z.infer<typeof sensorDeviceDetailSchema>;

/**
 * `POST /v1/sensors/batches` (and MQTT): what became of one batch of readings.
 *
 * @example const { stored } = ingestOutcomeSchema.parse(await res.json());
 */
export const ingestOutcomeSchema = z.object({
  batchId: z.string(),
  device: z.string(),
  sequence: z.number(),
  readings: z.number(),
  stored: z.number(),
  duplicates: z.number(),
  /** Readings that failed the range or jump check (stored, flagged). */
  flagged: z.number(),
});
/** @example const o: IngestOutcomeView = { batchId: '0x…', device: '0x…', sequence: 1, readings: 10, stored: 10, duplicates: 0, flagged: 0 }; */
export type IngestOutcomeView = z.infer<typeof ingestOutcomeSchema>;
