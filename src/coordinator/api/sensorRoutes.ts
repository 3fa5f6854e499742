import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { Address } from 'viem';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import {
  ingestOutcomeSchema,
  sensorDeviceDetailSchema,
  sensorDeviceListSchema,
  sensorDeviceViewSchema,
} from '../../protocol/http/sensors.ts';
import { addressSchema } from '../../protocol/schemas.ts';
import type { DatasetSeller } from '../../sensors/dataset/createDatasetSeller.ts';
import { getDevice, registerDevice } from '../../sensors/identity/registerDevice.ts';
import type { Ingester } from '../../sensors/ingest/createIngester.ts';
import { datasetAuthSchema, datasetQuerySchema, deviceRegistrationSchema } from '../../sensors/protocol.ts';
import { listDeviceAddresses, listDeviceScores } from '../../sensors/sensorQueries.ts';
import type { Database } from '../store/schema.ts';

/**
 * The sensor network's HTTP API (docs/sensors.md): device registration, reading batches (the
 * HTTP twin of MQTT ingestion), devices and their quality scores, and paid datasets.
 *
 * @example await app.register(sensorRoutes({ db, ingester, seller, chainId }));
 */
export function sensorRoutes(deps: {
  db: Kysely<Database>;
  ingester: Ingester;
  seller: DatasetSeller;
  chainId: number;
  isProvider?: ((owner: Address) => Promise<boolean>) | undefined;
}) {
  const { db, ingester } = deps;
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/sensors/devices',
      {
        schema: {
          summary: 'Register (or move) a device: signed by its owner, a provider account',
          body: deviceRegistrationSchema,
          response: { 200: sensorDeviceViewSchema, ...errorResponses },
        },
      },
      async (req) => {
        const device = await registerDevice(
          { db, chainId: deps.chainId, isProvider: deps.isProvider },
          req.body,
        );
        ingester.invalidate(device.address);
        return device;
      },
    );

    r.get(
      '/v1/sensors/devices',
      {
        schema: {
          summary: 'Registered devices, optionally of one owner',
          querystring: z.object({ owner: addressSchema.optional() }),
          response: { 200: sensorDeviceListSchema, ...errorResponses },
        },
      },
      async (req) => {
        const addresses = await listDeviceAddresses(db, {
          owner: req.query.owner?.toLowerCase(),
          limit: 1000,
        });
        const devices = [];
        // A device removed between the two reads is skipped rather than sent as a hole.
        for (const address of addresses) {
          const device = await getDevice(db, address);
          if (device) devices.push(device);
        }
        return { devices };
      },
    );

    r.get(
      '/v1/sensors/devices/:address',
      {
        schema: {
          summary: 'A device and its latest quality scores',
          params: z.object({ address: addressSchema }),
          response: { 200: sensorDeviceDetailSchema, ...errorResponses },
        },
      },
      async (req) => {
        const device = await getDevice(db, req.params.address);
        if (!device) throw new PlexusError('PLX_NOT_FOUND', `device ${req.params.address} is not registered`);
        const scores = await listDeviceScores(db, device.address, 50);
        return {
          ...device,
          scores: scores.map((s) => ({
            kind: s.kind,
            windowStart: s.window_start,
            windowEnd: s.window_end,
            dataScore: s.data_score,
            locationScore: s.location_score,
            score: s.score,
            flags: JSON.parse(s.flags) as string[],
            detail: JSON.parse(s.detail) as unknown,
          })),
        };
      },
    );

    // The body is validated by the ingester itself (one path for MQTT and HTTP).
    r.post(
      '/v1/sensors/batches',
      {
        schema: {
          summary: 'Ingest one batch of readings signed by the device key',
          response: { 200: ingestOutcomeSchema, ...errorResponses },
        },
      },
      async (req) => ingester.ingest(req.body, 'http'),
    );

    r.get(
      '/v1/sensors/dataset',
      {
        schema: {
          summary: 'Buy readings by area, time, variable and quality (CSV or Parquet), paid per reading',
          querystring: z.object({ ...datasetQuerySchema.shape, ...datasetAuthSchema.shape }),
          // No response schema: 200 is CSV or Parquet bytes, which a JSON serialiser must not touch.
        },
      },
      async (req, reply) => {
        const { client, nonce, maxCost, issuedAt, signature, ...query } = req.query;
        const sale = await deps.seller.sell(query, { client, nonce, maxCost, issuedAt, signature });
        void reply
          .header('content-type', sale.contentType)
          .header('x-plexus-readings', String(sale.readings))
          .header('x-plexus-cost', sale.cost.toString())
          .header('x-plexus-purchase', sale.purchaseId);
        return reply.send(sale.body);
      },
    );
  };
}
