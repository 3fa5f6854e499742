/**
 * Defaults of the sensor network (docs/sensors.md). Amounts are PLX base units (18 decimals).
 */
import { PLX } from '../chain/constants.ts';

/** Most samples (timestamps) in one batch. */
export const MAX_SAMPLES_PER_BATCH = 4000;
/** Most readings (sample × variable) in one batch. */
export const MAX_READINGS_PER_BATCH = 20_000;
/** Largest batch accepted over MQTT or HTTP, bytes. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** A reading may be at most this far in the future (clock skew) … */
export const MAX_READING_FUTURE_MS = 5 * 60_000;
/** … and at most this old (a device uploading its backlog after an outage). */
export const MAX_READING_AGE_MS = 7 * 86_400_000;

/** Per-device rate limit, readings per second sustained (a 16 s station sends about 0.3). */
export const DEFAULT_DEVICE_READINGS_PER_SEC = 100;
/** Per-device burst: a backlog of about one day of a 16 s, five-variable station. */
export const DEFAULT_DEVICE_BURST_READINGS = 30_000;
/** Readings accepted but not yet written, beyond which new batches are refused (HTTP) or dropped (MQTT). */
export const DEFAULT_MAX_QUEUED_READINGS = 200_000;

/** Sensor emission per epoch, shared by device owners by quality: 50 PLX. */
export const DEFAULT_SENSOR_EMISSION_PER_EPOCH = 50n * PLX;
/** Price of one reading in a dataset: 0.000001 PLX (a million readings cost 1 PLX). */
export const DEFAULT_PRICE_PER_READING = PLX / 1_000_000n;
/** Share of dataset revenue kept as protocol fee, basis points (as compute: 5%). */
export const DATASET_FEE_BPS = 500n;
/** Most readings one dataset request may return. */
export const MAX_DATASET_READINGS = 1_000_000;

/** MQTT topics: devices publish to `plexus/sensors/<device>/batch`. */
export const MQTT_BATCH_TOPIC = 'plexus/sensors/+/batch';
/** Errors about a device's batches go to `plexus/sensors/<device>/errors`; ingest outcomes to `…/acks`. */
export const mqttTopics = {
  batch: (device: string) => `plexus/sensors/${device.toLowerCase()}/batch`,
  errors: (device: string) => `plexus/sensors/${device.toLowerCase()}/errors`,
  acks: (device: string) => `plexus/sensors/${device.toLowerCase()}/acks`,
  /** Errors for payloads that name no device (unparseable JSON, bad topic). */
  unattributed: 'plexus/sensors/errors',
};

/** Neighbours for spatial checks: devices within this distance. */
export const NEIGHBOUR_RADIUS_KM = 50;
/** A device more than this far from its claimed location (batch GPS) is misplaced. */
export const MAX_DISTANCE_FROM_CLAIM_KM = 5;
/** Faster than this between two batch positions is a teleport (a station does not fly). */
export const MAX_PLAUSIBLE_SPEED_KMH = 300;
