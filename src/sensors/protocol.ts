/**
 * Wire schemas of the sensor network (docs/sensors.md) and the signing helpers a device, its
 * owner and a data buyer use. Objects are strict: an unknown field is an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { LocalAccount } from 'viem';
import { z } from 'zod';
import { canonicalJson, hashCanonical } from '../protocol/canonicalJson.ts';
import { addressSchema, signatureSchema, uintStringSchema } from '../protocol/schemas.ts';
import { MAX_SAMPLES_PER_BATCH } from './constants.ts';
import { signSensorMessage } from './identity/sensorMessages.ts';
import { stationModelNames } from './stationModels.ts';

const latSchema = z.number().min(-90).max(90);
const lonSchema = z.number().min(-180).max(180);

export const deviceRegistrationSchema = z.strictObject({
  owner: addressSchema,
  device: addressSchema,
  model: z.enum(stationModelNames),
  lat: latSchema,
  lon: lonSchema,
  issuedAt: z.int().min(0),
  signature: signatureSchema,
  /** The DEVICE key's DeviceClaim signature over (device, owner, issuedAt): it agrees to the owner. */
  deviceSignature: signatureSchema,
});
export type DeviceRegistration = z.infer<typeof deviceRegistrationSchema>;

/** One timestamp of a station: its variables' values (null: the sensor had nothing). */
export const sampleSchema = z.strictObject({
  t: z.int().min(0),
  values: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/), z.number().nullable()),
});

export const readingBatchSchema = z.strictObject({
  device: addressSchema,
  sequence: z.int().min(0),
  issuedAt: z.int().min(0),
  /**
   * Where the device says it is (GPS), if it knows. Any finite numbers are accepted: an impossible
   * position is evidence (it flags the device), not a malformed payload.
   */
  location: z.strictObject({ lat: z.number(), lon: z.number() }).optional(),
  samples: z.array(sampleSchema).min(1).max(MAX_SAMPLES_PER_BATCH),
  signature: signatureSchema,
});
export type ReadingBatch = z.infer<typeof readingBatchSchema>;
export type UnsignedReadingBatch = Omit<ReadingBatch, 'signature'>;

/**
 * The payload hash a device signs: SHA-256 (cheap on microcontrollers, native in Node) of the
 * RFC 8785 canonical JSON of everything but the signature.
 */
export function batchPayloadHash(batch: UnsignedReadingBatch): `0x${string}` {
  const { device, sequence, issuedAt, location, samples } = batch;
  return sha256Canonical(
    location ? { device, sequence, issuedAt, location, samples } : { device, sequence, issuedAt, samples },
  );
}

function sha256Canonical(value: unknown): `0x${string}` {
  return `0x${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}

/**
 * The DEVICE key's consent to be registered to `owner`: its DeviceClaim signature over (device,
 * owner, issuedAt) on the chain's domain. A device signs it once, for its owner's registration
 * (`signDeviceRegistration` with the same `issuedAt`).
 *
 * @example const deviceSignature = await signDeviceClaim(device, 31337, owner.address, issuedAt);
 */
export function signDeviceClaim(
  device: LocalAccount,
  chainId: number,
  owner: `0x${string}`,
  issuedAt: number,
): Promise<`0x${string}`> {
  return signSensorMessage(device, chainId, 'DeviceClaim', {
    device: device.address,
    owner,
    issuedAt: BigInt(issuedAt),
  });
}

/**
 * Registers a device: the OWNER signs (device address, model, claimed location) and the DEVICE
 * consents (its key signs a DeviceClaim naming the owner): pass the device's account, or its
 * address with the `deviceSignature` it made ({@link signDeviceClaim}) for this `issuedAt`.
 *
 * @example
 * const body = await signDeviceRegistration(owner, 31337, { device: dev, model: 'ws1000', lat: 52.37, lon: 4.9 });
 */
export async function signDeviceRegistration(
  owner: LocalAccount,
  chainId: number,
  r: {
    device: LocalAccount | `0x${string}`;
    deviceSignature?: `0x${string}`;
    model: string;
    lat: number;
    lon: number;
    issuedAt?: number;
  },
): Promise<DeviceRegistration> {
  const issuedAt = r.issuedAt ?? Math.floor(Date.now() / 1000);
  const device = typeof r.device === 'string' ? r.device : r.device.address;
  const deviceSignature =
    typeof r.device === 'string'
      ? r.deviceSignature
      : await signDeviceClaim(r.device, chainId, owner.address, issuedAt);
  if (!deviceSignature)
    throw new TypeError("a device registration needs the device's key or its deviceSignature");
  const signature = await signSensorMessage(owner, chainId, 'DeviceRegistration', {
    owner: owner.address,
    device,
    model: r.model,
    latE6: Math.round(r.lat * 1e6),
    lonE6: Math.round(r.lon * 1e6),
    issuedAt: BigInt(issuedAt),
  });
  return {
    owner: owner.address,
    device,
    model: r.model,
    lat: r.lat,
    lon: r.lon,
    issuedAt,
    signature,
    deviceSignature,
  };
}

/**
 * Signs a batch of readings with the DEVICE key. Sequences must grow from batch to batch.
 *
 * @example
 * const batch = await signReadingBatch(device, 31337, { sequence: 7, samples: [{ t: Date.now(), values: { temperature: 21.5 } }] });
 */
export async function signReadingBatch(
  device: LocalAccount,
  chainId: number,
  b: Omit<UnsignedReadingBatch, 'device' | 'issuedAt'> & { issuedAt?: number },
): Promise<ReadingBatch> {
  const unsigned: UnsignedReadingBatch = {
    device: device.address,
    sequence: b.sequence,
    issuedAt: b.issuedAt ?? Math.floor(Date.now() / 1000),
    ...(b.location ? { location: b.location } : {}),
    samples: b.samples,
  };
  const signature = await signSensorMessage(device, chainId, 'ReadingBatch', {
    device: device.address,
    sequence: BigInt(unsigned.sequence),
    payloadHash: batchPayloadHash(unsigned),
    issuedAt: BigInt(unsigned.issuedAt),
  });
  return { ...unsigned, signature };
}

/** A dataset query (GET /v1/sensors/dataset), the part the client signs the hash of. */
export const datasetQuerySchema = z.strictObject({
  /** minLon,minLat,maxLon,maxLat */
  bbox: z
    .string()
    .regex(/^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$/, 'must be minLon,minLat,maxLon,maxLat')
    .refine((s) => {
      const [a, b, c, d] = s.split(',').map(Number) as [number, number, number, number];
      return a >= -180 && c <= 180 && b >= -90 && d <= 90 && a <= c && b <= d;
    }, 'must be minLon,minLat,maxLon,maxLat within the globe, min ≤ max'),
  /** Epoch milliseconds, inclusive … */
  from: z.coerce.number().int().min(0),
  /** … exclusive. */
  to: z.coerce.number().int().min(0),
  /** Comma-separated variable names. */
  variables: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,31}(,[a-zA-Z][a-zA-Z0-9_]{0,31}){0,15}$/),
  /** Least device-day score (0 to 1); 0 also includes readings of days not scored yet. */
  minQuality: z.coerce.number().min(0).max(1).default(0),
  format: z.enum(['csv', 'parquet']).default('csv'),
});
export type DatasetQuery = z.infer<typeof datasetQuerySchema>;

/** The signed part of a dataset request, sent as query parameters beside the query. */
export const datasetAuthSchema = z.strictObject({
  client: addressSchema,
  nonce: uintStringSchema,
  maxCost: uintStringSchema,
  issuedAt: z.coerce.number().int().min(0),
  signature: signatureSchema,
});

/** The hash a client signs over a dataset query (canonical JSON of the parsed query, defaults applied). */
export function datasetQueryHash(q: DatasetQuery): `0x${string}` {
  return hashCanonical(q);
}

/**
 * Signs a dataset request; returns the query parameters of GET /v1/sensors/dataset.
 *
 * @example
 * const params = await signDatasetRequest(client, 31337, query, { maxCost: 10n ** 18n });
 */
export async function signDatasetRequest(
  client: LocalAccount,
  chainId: number,
  query: DatasetQuery,
  opts: { maxCost: bigint; nonce?: bigint; issuedAt?: number },
): Promise<Record<string, string>> {
  const nonce = opts.nonce ?? BigInt(`0x${randomBytes(16).toString('hex')}`);
  const issuedAt = opts.issuedAt ?? Math.floor(Date.now() / 1000);
  const signature = await signSensorMessage(client, chainId, 'DatasetRequest', {
    client: client.address,
    queryHash: datasetQueryHash(query),
    nonce,
    maxCost: opts.maxCost,
    issuedAt: BigInt(issuedAt),
  });
  return {
    bbox: query.bbox,
    from: String(query.from),
    to: String(query.to),
    variables: query.variables,
    minQuality: String(query.minQuality),
    format: query.format,
    client: client.address,
    nonce: nonce.toString(),
    maxCost: opts.maxCost.toString(),
    issuedAt: String(issuedAt),
    signature,
  };
}
