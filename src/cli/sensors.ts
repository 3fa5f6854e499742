/**
 * `plexus sensors keygen|register|send|status|export`: what a device owner and a data buyer need
 * (docs/sensors.md).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import mqtt from 'mqtt';
import { type Hex, isAddress } from 'viem';
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import {
  type KeyRole,
  loadOrCreateKeystore,
  openExistingKeystore,
} from '../keystore/loadOrCreateKeystore.ts';
import { readPassword } from '../keystore/readPassword.ts';
import { sensorDeviceDetailSchema } from '../protocol/http/sensors.ts';
import { mqttTopics } from '../sensors/constants.ts';
import {
  datasetQuerySchema,
  sampleSchema,
  signDatasetRequest,
  signDeviceRegistration,
  signReadingBatch,
} from '../sensors/protocol.ts';
import { stationModelNames } from '../sensors/stationModels.ts';
import { fetchCoordinator } from './fetchCoordinator.ts';
import { formatPlx, localTime, plural } from './format.ts';
import {
  DEFAULT_CLIENT_KEYSTORE,
  DEFAULT_COORDINATOR,
  dateOption,
  intOption,
  numberOption,
  plxAmountOption,
} from './options.ts';

const coordinatorOption = ['--coordinator <url>', 'coordinator URL', DEFAULT_COORDINATOR] as const;
const chainIdOption = [
  '--chain-id <id>',
  'chain id of the EIP-712 domain',
  intOption(1, 2 ** 31),
  31337,
] as const;

/** Opens a key; only `keygen` creates one (`create`), every other command needs it to exist. */
async function account(path: string, prompt: string, role: KeyRole, create = false) {
  const password = await readPassword({ prompt });
  return create
    ? loadOrCreateKeystore(path, password, { role })
    : openExistingKeystore(path, password, { role });
}

/** `--bbox minLon,minLat,maxLon,maxLat`, checked for order and range before anything is signed. */
function bboxOption(v: string): string {
  const n = v.split(',').map((x) => Number(x.trim()));
  if (n.length !== 4 || n.some((x) => !Number.isFinite(x)))
    throw new InvalidArgumentError('expected four numbers minLon,minLat,maxLon,maxLat (longitude first)');
  const [minLon, minLat, maxLon, maxLat] = n as [number, number, number, number];
  if (Math.abs(minLat) > 90 || Math.abs(maxLat) > 90 || Math.abs(minLon) > 180 || Math.abs(maxLon) > 180)
    throw new InvalidArgumentError(
      'latitudes must be within ±90 and longitudes within ±180 (longitude first)',
    );
  if (minLon > maxLon || minLat > maxLat)
    throw new InvalidArgumentError(
      'expected minLon,minLat,maxLon,maxLat with min ≤ max (longitude first, e.g. 2.2,48.8,2.5,48.9)',
    );
  return v;
}

async function postJson(base: string, path: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base.replace(/\/+$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    throw new PlexusError('PLX_UPSTREAM_UNAVAILABLE', `cannot reach the coordinator at ${base}`, { cause });
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res.json();
}

/** `plexus sensors …`. */
export function sensorsCommand(): Command {
  const cmd = new Command('sensors').description('sensor devices: keys, registration, readings, datasets');

  cmd
    .command('keygen')
    .description("create a device key (encrypted keystore); prints the device's address")
    .requiredOption('--keystore <file>', 'where to write the device key')
    .action(async (o: { keystore: string }) => {
      const a = await account(o.keystore, 'Device keystore password: ', 'device', true);
      console.log(a.address);
    });

  cmd
    .command('register')
    .description('register (or move) a device, signed by its owner (a provider account) and by the device')
    .requiredOption('--owner-keystore <file>', "the owner's (provider's) key file")
    .requiredOption(
      '--device-keystore <file>',
      "the device's key file (plexus sensors keygen): the device signs its consent to the owner",
    )
    .requiredOption('--model <model>', `station model: ${stationModelNames.join(', ')}`)
    .requiredOption('--lat <deg>', 'claimed latitude', numberOption(-90, 90))
    .requiredOption('--lon <deg>', 'claimed longitude', numberOption(-180, 180))
    .option(...coordinatorOption)
    .option(...chainIdOption)
    .option('--json', "print the coordinator's answer as one JSON object", false)
    .action(
      async (o: {
        ownerKeystore: string;
        deviceKeystore: string;
        model: string;
        lat: number;
        lon: number;
        coordinator: string;
        chainId: number;
        json: boolean;
      }) => {
        const owner = await account(o.ownerKeystore, 'Owner keystore password: ', 'owner');
        const device = await account(o.deviceKeystore, 'Device keystore password: ', 'device');
        const reg = await signDeviceRegistration(owner, o.chainId, {
          device,
          model: o.model,
          lat: o.lat,
          lon: o.lon,
        });
        const r = (await postJson(o.coordinator, '/v1/sensors/devices', reg)) as Record<string, unknown>;
        if (o.json) console.log(JSON.stringify(r));
        else
          console.log(
            `registered device ${String(r.address ?? device.address)} (${o.model} at ${o.lat}, ${o.lon}), owned by ${String(r.owner ?? owner.address)}; next: plexus sensors send --keystore DEVICE_KEY --file SAMPLES`,
          );
      },
    );

  cmd
    .command('send')
    .description('sign a batch of readings with the device key and send it (HTTP, or MQTT with --mqtt-url)')
    .requiredOption('--keystore <file>', "the device's key file")
    .requiredOption('--file <json>', 'samples: [{ "t": unix ms, "values": { "temperature": 21.5, … } }, …]')
    .option(
      '--sequence <n>',
      'batch sequence (default: now in ms, which always grows)',
      intOption(0, 2 ** 53 - 1),
    )
    .option('--lat <deg>', 'GPS latitude to report with the batch', Number)
    .option('--lon <deg>', 'GPS longitude to report with the batch', Number)
    .option('--mqtt-url <url>', 'publish to this MQTT broker instead of POSTing to the coordinator')
    .option(...coordinatorOption)
    .option(...chainIdOption)
    .option('--json', "print the coordinator's answer as one JSON object", false)
    .action(
      async (o: {
        keystore: string;
        file: string;
        sequence?: number;
        lat?: number;
        lon?: number;
        mqttUrl?: string;
        coordinator: string;
        chainId: number;
        json: boolean;
      }) => {
        const samples = sampleSchema
          .array()
          .min(1)
          .parse(JSON.parse(await readFile(o.file, 'utf8')));
        const device = await account(o.keystore, 'Device keystore password: ', 'device');
        const batch = await signReadingBatch(device, o.chainId, {
          sequence: o.sequence ?? Date.now(),
          samples,
          ...(o.lat !== undefined && o.lon !== undefined ? { location: { lat: o.lat, lon: o.lon } } : {}),
        });
        if (o.mqttUrl) {
          const client = await mqtt.connectAsync(o.mqttUrl);
          try {
            await client.publishAsync(mqttTopics.batch(device.address), JSON.stringify(batch), { qos: 1 });
          } finally {
            await client.endAsync();
          }
          const published = { published: mqttTopics.batch(device.address), sequence: batch.sequence };
          if (o.json) console.log(JSON.stringify(published));
          else
            console.log(
              `published ${plural(samples.length, 'sample')} to ${published.published} (sequence ${batch.sequence}); the coordinator stores them as its MQTT ingest reads them`,
            );
        } else {
          const r = (await postJson(o.coordinator, '/v1/sensors/batches', batch)) as Record<string, unknown>;
          if (o.json) console.log(JSON.stringify(r));
          else
            console.log(
              `sent ${plural(Number(r.readings ?? 0), 'reading')} of device ${String(r.device ?? device.address)}: ${String(r.stored)} stored, ${String(r.duplicates)} duplicate, ${String(r.flagged)} flagged (batch ${String(r.batchId)})`,
            );
        }
      },
    );

  cmd
    .command('status')
    .description('a device, its owner and its latest quality scores')
    .argument('<device>', "the device's address")
    .option(...coordinatorOption)
    .option('--json', 'print the device and its scores as JSON', false)
    .action(async (device: string, o: { coordinator: string; json: boolean }) => {
      if (!isAddress(device)) throw new InvalidArgumentError('expected a device address');
      const d = await fetchCoordinator(
        o.coordinator,
        `/v1/sensors/devices/${device}`,
        sensorDeviceDetailSchema,
      );
      if (o.json) return void console.log(JSON.stringify(d));
      console.log(`device ${d.address} (${d.model}), owner ${d.owner}`);
      console.log(`  at ${d.lat}, ${d.lon}; registered ${localTime(new Date(d.registeredAt))}`);
      console.log(
        `  ${plural(d.readingsTotal, 'reading')}; last seen ${d.lastSeen === null ? 'never' : localTime(new Date(d.lastSeen))}`,
      );
      if (d.scores.length === 0) console.log('  no quality score yet (days are scored once they end, UTC)');
      for (const s of d.scores.slice(0, 7)) {
        const flags = s.flags.length > 0 ? ` — flags: ${s.flags.join(', ')}` : '';
        console.log(
          `  ${s.kind} from ${localTime(new Date(s.windowStart))}: score ${s.score.toFixed(2)} (data ${s.dataScore.toFixed(2)}, location ${s.locationScore.toFixed(2)})${flags}`,
        );
      }
    });

  cmd
    .command('export')
    .description('buy readings by area, time, variable and quality; paid per reading from your escrow')
    .requiredOption('--bbox <minLon,minLat,maxLon,maxLat>', 'area, longitude first', bboxOption)
    .requiredOption('--from <time>', 'start (ISO 8601, unix ms, today, yesterday), inclusive', dateOption)
    .requiredOption('--to <time>', 'end (ISO 8601, unix ms, now), exclusive', dateOption)
    .requiredOption('--variables <names>', 'comma-separated, e.g. temperature,humidity')
    .option('--min-quality <q>', 'least device-day score, 0 to 1', numberOption(0, 1), 0)
    .option('--format <format>', 'csv or parquet', 'csv')
    .requiredOption('--out <file>', 'where to write the dataset')
    .addOption(
      new Option('--max-cost <amount>', 'most to pay, e.g. 1PLX')
        .argParser(plxAmountOption)
        .default(10n ** 18n, '1PLX'),
    )
    .option('--keystore <file>', 'client key file (env PLEXUS_CLIENT_KEYSTORE)', DEFAULT_CLIENT_KEYSTORE)
    .option('--json', 'print one JSON object (cost in base units)', false)
    .option(...coordinatorOption)
    .option(...chainIdOption)
    .action(
      async (o: {
        bbox: string;
        from: number;
        to: number;
        variables: string;
        minQuality: number;
        format: string;
        out: string;
        maxCost: bigint;
        keystore: string;
        coordinator: string;
        chainId: number;
        json: boolean;
      }) => {
        if (o.from >= o.to)
          throw new InvalidArgumentError('--from must be before --to (the range is [from, to))');
        const query = datasetQuerySchema.parse({
          bbox: o.bbox,
          from: o.from,
          to: o.to,
          variables: o.variables,
          minQuality: o.minQuality,
          format: o.format,
        });
        const client = await account(o.keystore, 'Client keystore password: ', 'client');
        const params = await signDatasetRequest(client, o.chainId, query, { maxCost: o.maxCost });
        const url = `${o.coordinator.replace(/\/+$/, '')}/v1/sensors/dataset?${new URLSearchParams(params)}`;
        let res: Response;
        try {
          res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
        } catch (cause) {
          throw new PlexusError(
            'PLX_UPSTREAM_UNAVAILABLE',
            `cannot reach the coordinator at ${o.coordinator}`,
            {
              cause,
            },
          );
        }
        if (!res.ok) throw await errorFromResponse(res);
        const body = Buffer.from(await res.arrayBuffer());
        const readings = Number(res.headers.get('x-plexus-readings'));
        const cost = res.headers.get('x-plexus-cost') ?? '0';
        const purchase = res.headers.get('x-plexus-purchase') as Hex;
        if (readings === 0)
          throw new PlexusError(
            'PLX_NOT_FOUND',
            `no readings match (nothing written, nothing charged): check that --bbox is longitude first (minLon,minLat,maxLon,maxLat, yours ${o.bbox}), that devices sent readings between ${new Date(o.from).toISOString()} and ${new Date(o.to).toISOString()}, and that --min-quality ${o.minQuality} > 0 needs device-days already scored (each day is scored after it ends: try --min-quality 0)`,
            { details: { readings, bbox: o.bbox, from: o.from, to: o.to, minQuality: o.minQuality } },
          );
        await writeFile(o.out, body);
        if (o.json) console.log(JSON.stringify({ out: o.out, readings, cost, purchase }));
        else
          console.log(
            `wrote ${plural(readings, 'reading')} to ${o.out}; cost ${/^\d+$/.test(cost) ? formatPlx(BigInt(cost)) : cost} (purchase ${purchase})`,
          );
      },
    );
  return cmd;
}
