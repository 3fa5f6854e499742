/**
 * Sensor ingestion end to end, in process, over real HTTP and the real Mosquitto broker
 * (127.0.0.1:1883): device registration signed by the owner, batches signed by the device,
 * deduplication, replays, bad signatures, bad payloads, per-device rate limits and backpressure.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { mqttTopics } from '../src/sensors/constants.ts';
import { signDeviceRegistration, signReadingBatch } from '../src/sensors/protocol.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';

const CHAIN = 31337;
let c: Awaited<ReturnType<typeof testCoordinator>>;
const owner = randomAccount();
const device = randomAccount();

before(async () => {
  c = await testCoordinator({ mqttUrl: 'mqtt://127.0.0.1:1883', sensorReadingsPerSec: 1 });
  const reg = await signDeviceRegistration(owner, CHAIN, {
    device,
    model: 'ws1000',
    lat: 52.37,
    lon: 4.9,
  });
  const res = await post('/v1/sensors/devices', reg);
  assert.equal(res.status, 200, JSON.stringify(res.body));
});
after(async () => {
  await c.cleanup();
});

/** What the API answers: an outcome, a device, or an error. */
type Body = Record<string, unknown> & {
  error: { code: string; message: string; details: { retryAfterMs: number } };
  readings: number;
  stored: number;
  duplicates: number;
};

async function post(path: string, body: unknown) {
  const res = await fetch(`${c.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Body };
}

const t0 = Date.now() - 1_800_000;
const samples = (from: number, n: number, temp = 20) =>
  Array.from({ length: n }, (_, i) => ({
    t: t0 + (from + i) * 16_000,
    values: { temperature: temp + i * 0.01, humidity: 60 },
  }));

test('registration: signed by the owner; another owner cannot take the device; a bad signature is refused', async () => {
  const thief = randomAccount();
  const taken = await post(
    '/v1/sensors/devices',
    await signDeviceRegistration(thief, CHAIN, { device, model: 'ws1000', lat: 1, lon: 1 }),
  );
  assert.equal(taken.body.error.code, 'PLX_SENSOR_DEVICE_TAKEN');
  const forged = {
    ...(await signDeviceRegistration(thief, CHAIN, {
      device: randomAccount(),
      model: 'ws1000',
      lat: 1,
      lon: 1,
    })),
    owner: owner.address,
  };
  assert.equal((await post('/v1/sensors/devices', forged)).body.error.code, 'PLX_BAD_SIGNATURE');
  const badModel = await post('/v1/sensors/devices', { ...forged, model: 'toaster' });
  assert.equal(badModel.body.error.code, 'PLX_VALIDATION');
  const res = await fetch(`${c.url}/v1/sensors/devices/${device.address}`);
  const d = (await res.json()) as { owner: string; model: string };
  assert.equal(d.owner, owner.address.toLowerCase());
});

// Security review: the owner alone signed a registration, so whoever learned a device's address
// first registered it as its own and was credited with its readings.
test('registration: the device key must consent to its owner; a squatter without it is refused', async () => {
  const squatter = randomAccount();
  const victim = randomAccount();
  const own = await signDeviceRegistration(squatter, CHAIN, {
    device: squatter,
    model: 'ws1000',
    lat: 1,
    lon: 1,
  });
  // The squatter's own key signs the claim: not the device's.
  const squat = {
    ...(await signDeviceRegistration(squatter, CHAIN, {
      device: victim.address,
      deviceSignature: own.deviceSignature,
      model: 'ws1000',
      lat: 1,
      lon: 1,
      issuedAt: own.issuedAt,
    })),
  };
  const r1 = await post('/v1/sensors/devices', squat);
  assert.equal(r1.body.error.code, 'PLX_BAD_SIGNATURE', 'a device was registered without its key');
  // A claim the device made for another owner cannot be reused.
  const forOther = await signDeviceRegistration(owner, CHAIN, {
    device: victim,
    model: 'ws1000',
    lat: 1,
    lon: 1,
  });
  const reused = await signDeviceRegistration(squatter, CHAIN, {
    device: victim.address,
    deviceSignature: forOther.deviceSignature,
    model: 'ws1000',
    lat: 1,
    lon: 1,
    issuedAt: forOther.issuedAt,
  });
  assert.equal((await post('/v1/sensors/devices', reused)).body.error.code, 'PLX_BAD_SIGNATURE');
  // No device signature at all: malformed.
  const { deviceSignature: _drop, ...bare } = forOther;
  assert.equal((await post('/v1/sensors/devices', bare)).body.error.code, 'PLX_VALIDATION');
  // The real owner, with the device's consent, registers it.
  const mine = await post('/v1/sensors/devices', forOther);
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.equal((mine.body as unknown as { owner: string }).owner, owner.address.toLowerCase());
});

test('HTTP: a signed batch is stored; duplicates by (device, variable, time) are dropped; a replayed sequence is refused', async () => {
  const a = await post(
    '/v1/sensors/batches',
    await signReadingBatch(device, CHAIN, { sequence: 1, samples: samples(0, 5) }),
  );
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(a.body.readings, 10);
  assert.equal(a.body.stored, 10);
  // Overlaps the first batch by 3 samples (6 readings).
  const b = await post(
    '/v1/sensors/batches',
    await signReadingBatch(device, CHAIN, { sequence: 2, samples: samples(2, 5) }),
  );
  assert.equal(b.body.stored, 4);
  assert.equal(b.body.duplicates, 6);
  const replay = await post(
    '/v1/sensors/batches',
    await signReadingBatch(device, CHAIN, { sequence: 2, samples: samples(9, 1) }),
  );
  assert.equal(replay.status, 409);
  assert.equal(replay.body.error.code, 'PLX_REPLAY');
  const rows = c.store
    .sqlite!.prepare('SELECT COUNT(*) AS n FROM sensor_readings WHERE device = ?')
    .get(device.address.toLowerCase()) as { n: number };
  assert.equal(rows.n, 14);
});

test('HTTP: bad payloads get a clear error and store nothing', async () => {
  const before = c.store.sqlite!.prepare('SELECT COUNT(*) AS n FROM sensor_readings').get() as { n: number };
  const good = await signReadingBatch(device, CHAIN, { sequence: 10, samples: samples(20, 2) });
  const cases: [unknown, string, RegExp?][] = [
    [{ ...good, samples: [{ t: good.samples[0]!.t, values: { temperature: 99 } }] }, 'PLX_BAD_SIGNATURE'],
    [{ ...good, sequence: 'ten' }, 'PLX_VALIDATION', /sequence/],
    [{ ...good, extra: 1 }, 'PLX_VALIDATION'],
    [
      await signReadingBatch(device, CHAIN, { sequence: 11, samples: [{ t: t0, values: { co2: 400 } }] }),
      'PLX_VALIDATION',
      /co2/,
    ],
    [
      await signReadingBatch(device, CHAIN, {
        sequence: 12,
        samples: [{ t: Date.now() + 3_600_000, values: { temperature: 1 } }],
      }),
      'PLX_VALIDATION',
      /ahead/,
    ],
    [
      await signReadingBatch(randomAccount(), CHAIN, { sequence: 1, samples: samples(0, 1) }),
      'PLX_SENSOR_UNKNOWN_DEVICE',
    ],
    [{ ...good, device: randomAccount().address }, 'PLX_SENSOR_UNKNOWN_DEVICE'],
  ];
  for (const [body, code, message] of cases) {
    const r = await post('/v1/sensors/batches', body);
    assert.equal(r.body.error?.code, code, JSON.stringify(r.body));
    if (message) assert.match(r.body.error.message, message);
  }
  // A device's first batch (public key not known yet) signed by another key.
  const fresh = randomAccount();
  await post(
    '/v1/sensors/devices',
    await signDeviceRegistration(owner, CHAIN, {
      device: fresh,
      model: 'ws1000',
      lat: 52.4,
      lon: 4.8,
    }),
  );
  const forged = {
    ...(await signReadingBatch(randomAccount(), CHAIN, { sequence: 1, samples: samples(0, 1) })),
    device: fresh.address,
  };
  assert.equal((await post('/v1/sensors/batches', forged)).body.error.code, 'PLX_BAD_SIGNATURE');
  const raw = await fetch(`${c.url}/v1/sensors/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"device":',
  });
  assert.equal(((await raw.json()) as { error: { code: string } }).error.code, 'PLX_BAD_JSON');
  const afterN = c.store.sqlite!.prepare('SELECT COUNT(*) AS n FROM sensor_readings').get() as { n: number };
  assert.equal(afterN.n, before.n);
});

test('MQTT: signed batches are stored; bad ones are dropped with an error on the device error topic', async () => {
  const dev = randomAccount();
  await post(
    '/v1/sensors/devices',
    await signDeviceRegistration(owner, CHAIN, { device: dev, model: 'ws1000', lat: 52.4, lon: 4.8 }),
  );
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883');
  try {
    const errors: { error: { code: string } }[] = [];
    await client.subscribeAsync(mqttTopics.errors(dev.address));
    client.on('message', (_t, p) => errors.push(JSON.parse(p.toString())));
    await client.publishAsync(
      mqttTopics.batch(dev.address),
      JSON.stringify(await signReadingBatch(dev, CHAIN, { sequence: 1, samples: samples(0, 10) })),
    );
    // Back to back: a device's batches are checked in the order they arrive (none is a "replay").
    for (let seq = 2; seq <= 6; seq++)
      client.publish(
        mqttTopics.batch(dev.address),
        JSON.stringify(await signReadingBatch(dev, CHAIN, { sequence: seq, samples: samples(seq * 10, 10) })),
      );
    await client.publishAsync(mqttTopics.batch(dev.address), 'not json');
    await client.publishAsync(
      mqttTopics.batch(dev.address),
      JSON.stringify(await signReadingBatch(dev, CHAIN, { sequence: 1, samples: samples(10, 1) })),
    );
    const deadline = Date.now() + 5000;
    const count = () =>
      (
        c.store
          .sqlite!.prepare('SELECT COUNT(*) AS n FROM sensor_readings WHERE device = ?')
          .get(dev.address.toLowerCase()) as { n: number }
      ).n;
    const seen = () => new Set(errors.map((e) => e.error.code));
    while (
      (count() < 120 || !seen().has('PLX_REPLAY') || !seen().has('PLX_BAD_JSON')) &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(count(), 120);
    // Other coordinators on the same broker (parallel tests) may add PLX_SENSOR_UNKNOWN_DEVICE.
    const codes = new Set(errors.map((e) => e.error.code));
    codes.delete('PLX_SENSOR_UNKNOWN_DEVICE');
    assert.deepEqual([...codes].sort(), ['PLX_BAD_JSON', 'PLX_REPLAY']);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    assert.match(metrics, /plexus_sensor_readings_stored_total\{source="mqtt"\} 120/);
    const dropped = Number(
      /plexus_sensor_batches_dropped_total\{reason="invalid"\} ([0-9]+)/.exec(metrics)?.[1],
    );
    assert.ok(dropped >= 2, `dropped ${dropped}`); // ≥: other tests may publish to the same broker
  } finally {
    await client.endAsync();
  }
});

test('per-device rate limit (429) and a full ingest queue (503) refuse batches and store nothing of them', async () => {
  const dev = randomAccount();
  await post(
    '/v1/sensors/devices',
    await signDeviceRegistration(owner, CHAIN, { device: dev, model: 'ws1000', lat: 52.4, lon: 4.8 }),
  );
  // Burst 30,000 readings, then 1 reading/s (this coordinator's limit): the second big batch waits.
  const big = (seq: number, from: number) =>
    signReadingBatch(dev, CHAIN, {
      sequence: seq,
      samples: Array.from({ length: 3000 }, (_, i) => ({
        t: t0 - 3 * 86_400_000 + (from + i) * 16_000,
        values: { temperature: 10, humidity: 50, pressure: 1000, windSpeed: 1, illuminance: 0 },
      })),
    });
  for (let i = 0; i < 2; i++) {
    const r = await post('/v1/sensors/batches', await big(i + 1, i * 3000));
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  }
  const limited = await post('/v1/sensors/batches', await big(3, 6000));
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'PLX_SENSOR_RATE_LIMITED');
  assert.ok(limited.body.error.details.retryAfterMs > 1000, 'limited.body.error.details.retryAfterMs > 1000');
  // Backpressure: hold the writer (an open transaction), fill the queue, the next batch is refused.
  const small = await testCoordinator({ sensorMaxQueuedReadings: 15 });
  try {
    const dev2 = randomAccount();
    const reg = await signDeviceRegistration(owner, CHAIN, {
      device: dev2,
      model: 'ws1000',
      lat: 52.4,
      lon: 4.8,
    });
    await fetch(`${small.url}/v1/sensors/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(reg),
    });
    small.store.sqlite!.exec('BEGIN');
    const first = small.ingester.ingest(
      await signReadingBatch(dev2, CHAIN, { sequence: 1, samples: samples(0, 5) }),
      'http',
    );
    await new Promise((r) => setTimeout(r, 20));
    const res = await fetch(`${small.url}/v1/sensors/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await signReadingBatch(dev2, CHAIN, { sequence: 2, samples: samples(5, 5) })),
    });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PLX_SENSOR_BUSY');
    small.store.sqlite!.exec('COMMIT');
    assert.equal((await first).stored, 10);
  } finally {
    await small.cleanup();
  }
});
