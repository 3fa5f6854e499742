/**
 * Sustained sensor ingestion (`npm run bench -- ingest [--json]`): many simulated devices publish
 * signed batches over MQTT (Mosquitto at 127.0.0.1:1883) to a coordinator running as its own OS
 * process; the figure is readings stored per second with every ingest check on (schema, device,
 * sequence, rate limit, one signature per batch, per-reading range and jump checks, dedupe).
 *
 * Baselines in the same run: the same kind of signed batches over HTTP (POST /v1/sensors/batches,
 * 16 in flight), and the bare SQLite insert rate of the same rows into the same table (no parsing,
 * no signatures, no checks: the ceiling of the store). Then the scorer (quality checks + anomaly
 * detector + spatial, copy, indoor and location checks) runs over the devices' window, timed.
 *
 * Publishers keep at most `--window` readings in flight (published, not yet stored, read from the
 * coordinator's /metrics), so the rate is what the coordinator sustains, not what the broker buffers.
 * Batches are signed before the clock starts: the devices' signing cost is theirs, not the
 * coordinator's.
 *
 * Options: `--devices N` (200), `--samples N` per batch (100; ×5 variables = readings),
 * `--batches N` per device per transport (6), `--mqtt-url URL`, `--window N` (100000).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { mqttTopics } from '../src/sensors/constants.ts';
import { type ReadingBatch, signDeviceRegistration, signReadingBatch } from '../src/sensors/protocol.ts';
import { scoreSensors } from '../src/sensors/scoring/scoreSensors.ts';

const CHAIN = 31337;
const STEP = 16_000;

function opt(args: string[], name: string, def: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function storedReadings(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^plexus_sensor_readings_stored_total\{[^}]*\} ([0-9.e+]+)$/gm))
    n += Number(m[1]);
  return n;
}

/** MQTT batches dropped, by the PLX_ code they were refused with. */
async function rejectedBatches(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^plexus_sensor_batches_rejected_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const code = /code="([^"]+)"/.exec(m[1]!)?.[1] ?? '?';
    out[code] = (out[code] ?? 0) + Number(m[2]);
  }
  return out;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const nDevices = opt(args, '--devices', 200);
  const nSamples = opt(args, '--samples', 100);
  const nBatches = opt(args, '--batches', 6);
  const windowReadings = opt(args, '--window', 100_000);
  const mqttIdx = args.indexOf('--mqtt-url');
  const mqttUrl = mqttIdx >= 0 ? args[mqttIdx + 1]! : 'mqtt://127.0.0.1:1883';
  const dir = await mkdtemp(join(tmpdir(), 'plexus-bench-ingest-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      'bin/plexus.mjs',
      'coordinator',
      '--data-dir',
      dir,
      '--port',
      String(port),
      '--mqtt-url',
      mqttUrl,
      '--sensor-readings-per-sec',
      '1000000',
      '--rate-limit-per-minute',
      '100000000',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('PLEXUS_COORDINATOR_READY')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
  });
  try {
    const owner = privateKeyToAccount(generatePrivateKey());
    const devices = Array.from({ length: nDevices }, () => privateKeyToAccount(generatePrivateKey()));
    for (const [i, d] of devices.entries()) {
      const reg = await signDeviceRegistration(owner, CHAIN, {
        device: d,
        model: 'ws1000',
        lat: 52 + (i % 20) * 0.05,
        lon: 4.5 + Math.floor(i / 20) * 0.05,
      });
      const res = await fetch(`${url}/v1/sensors/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(reg),
      });
      if (!res.ok) throw new Error(`register: ${await res.text()}`);
    }
    // Signed ahead: per device, MQTT batches then HTTP batches, consecutive sequences and times.
    const start = Date.now() - 2 * 3_600_000 - 2 * nBatches * nSamples * STEP;
    console.log(`signing ${2 * nBatches * nDevices} batches of ${nSamples * 5} readings…`);
    const sign = async (round: number) => {
      const out: string[] = [];
      for (const [di, d] of devices.entries()) {
        const samples = Array.from({ length: nSamples }, (_, k) => {
          const t = start + (round * nSamples + k) * STEP;
          const day = Math.sin((2 * Math.PI * (t % 86_400_000)) / 86_400_000);
          return {
            t,
            values: {
              temperature: Math.round((12 + 6 * day + di * 0.01 + Math.random() * 0.2) * 100) / 100,
              humidity: Math.round((70 - 15 * day + Math.random()) * 10) / 10,
              pressure: Math.round((1013 + Math.random() * 0.3) * 100) / 100,
              windSpeed: Math.round(Math.random() * 50) / 10,
              illuminance: Math.max(0, Math.round(50_000 * day)),
            },
          };
        });
        const b: ReadingBatch = await signReadingBatch(d, CHAIN, { sequence: round + 1, samples });
        out.push(JSON.stringify(b));
      }
      return out;
    };
    const mqttRounds: string[][] = [];
    const httpRounds: string[][] = [];
    for (let r = 0; r < nBatches; r++) mqttRounds.push(await sign(r));
    for (let r = nBatches; r < 2 * nBatches; r++) httpRounds.push(await sign(r));
    const perBatch = nSamples * 5;
    const total = nBatches * nDevices * perBatch;

    // --- MQTT, flow-controlled by the coordinator's stored count ---
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => mqtt.connectAsync(mqttUrl, { clean: true })),
    );
    const base = await storedReadings(url);
    const t0 = performance.now();
    let published = 0;
    let k = 0;
    let seen = 0; // stored so far, as last read (reading /metrics costs the coordinator too)
    for (const round of mqttRounds) {
      for (const [di, body] of round.entries()) {
        while (published - seen > windowReadings) {
          await new Promise((r) => setTimeout(r, 20));
          seen = (await storedReadings(url)) - base;
        }
        clients[k++ % clients.length]!.publish(mqttTopics.batch(devices[di]!.address), body, { qos: 0 });
        published += perBatch;
      }
    }
    let stored = 0;
    let rejected: Record<string, number> = {};
    let dropped = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      stored = (await storedReadings(url)) - base;
      rejected = await rejectedBatches(url);
      dropped = Object.values(rejected).reduce((a, b) => a + b, 0);
      if (stored + dropped * perBatch >= total) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const mqttSec = (performance.now() - t0) / 1000;
    await Promise.all(clients.map((c) => c.endAsync()));
    const mqttRate = stored / mqttSec;
    console.log(
      `MQTT: ${stored} readings stored in ${mqttSec.toFixed(2)} s = ${Math.round(mqttRate)} readings/s (${dropped} batches dropped: ${JSON.stringify(rejected)})`,
    );

    // --- HTTP baseline, 16 requests in flight ---
    const httpBase = await storedReadings(url);
    const queue = httpRounds.flat();
    const t1 = performance.now();
    let httpErrors = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let body = queue.shift(); body !== undefined; body = queue.shift()) {
          const res = await fetch(`${url}/v1/sensors/batches`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          if (!res.ok) httpErrors++;
          await res.arrayBuffer();
        }
      }),
    );
    const httpSec = (performance.now() - t1) / 1000;
    const httpStored = (await storedReadings(url)) - httpBase;
    const httpRate = httpStored / httpSec;
    console.log(
      `HTTP: ${httpStored} readings stored in ${httpSec.toFixed(2)} s = ${Math.round(httpRate)} readings/s (${httpErrors} errors)`,
    );

    // --- scorer over the devices' window (the coordinator's store, read-only) ---
    const ro = await openStore({ path: join(dir, 'plexus.db'), readonly: true });
    const firstT = start;
    const lastT = start + 2 * nBatches * nSamples * STEP;
    const fromMs = Math.floor(firstT / 3_600_000) * 3_600_000;
    const t2 = performance.now();
    const scores = await scoreSensors(ro.db, { fromMs, toMs: Math.ceil(lastT / 3_600_000) * 3_600_000 });
    const scoreSec = (performance.now() - t2) / 1000;
    await ro.close();
    const scoredReadings = scores.reduce((a, s) => a + s.readings, 0);
    console.log(
      `scoring: ${scores.length} devices, ${scoredReadings} readings in ${scoreSec.toFixed(2)} s = ${Math.round(scoredReadings / scoreSec)} readings/s`,
    );

    // --- bare SQLite insert ceiling (same table, same row shape, transactions of one batch) ---
    const { dir: sdir } = { dir: await mkdtemp(join(tmpdir(), 'plexus-bench-sqlite-')) };
    const s = await openStore({ path: join(sdir, 'plexus.db') });
    const ins = s.sqlite.prepare(
      'INSERT OR IGNORE INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
    );
    const rows = mqttRounds.flatMap((round) => round.map((b) => JSON.parse(b) as ReadingBatch));
    const tx = s.sqlite.transaction((b: ReadingBatch) => {
      for (const smp of b.samples)
        for (const [v, x] of Object.entries(smp.values)) ins.run(b.device, v, smp.t, x);
    });
    const t3 = performance.now();
    for (const b of rows) tx(b);
    const sqliteSec = (performance.now() - t3) / 1000;
    await s.close();
    await rm(sdir, { recursive: true, force: true });
    const sqliteRate = total / sqliteSec;
    console.log(
      `SQLite alone: ${total} readings in ${sqliteSec.toFixed(2)} s = ${Math.round(sqliteRate)} readings/s`,
    );
    return {
      devices: nDevices,
      readingsPerBatch: perBatch,
      mqtt: {
        readings: stored,
        seconds: mqttSec,
        readingsPerSec: Math.round(mqttRate),
        droppedBatches: dropped,
        rejected,
      },
      http: {
        readings: httpStored,
        seconds: httpSec,
        readingsPerSec: Math.round(httpRate),
        errors: httpErrors,
      },
      sqliteOnly: { readings: total, seconds: sqliteSec, readingsPerSec: Math.round(sqliteRate) },
      mqttVsSqlite: mqttRate / sqliteRate,
      mqttVsHttp: mqttRate / httpRate,
      scoring: { devices: scores.length, readings: scoredReadings, seconds: scoreSec },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}
