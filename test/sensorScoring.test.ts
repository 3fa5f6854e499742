/**
 * Sensor quality scores and sensor rewards over one simulated day of a small network near
 * Amsterdam (real SQLite store, the real scorer and closeEpoch): honest stations score well; a
 * copier, an indoor station, one claimed at sea, one that teleports and one that disagrees with its
 * neighbours are flagged; the epoch's sensor emission goes to owners by score, split exactly,
 * capped at the token's per-epoch limit, and lands in the cumulative rewards tree.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_EMISSION_PER_EPOCH, PLX } from '../src/chain/constants.ts';
import type { PlexusReader } from '../src/chain/types.ts';
import { payloadFromJson } from '../src/coordinator/ledger/epochPayload.ts';
import { readBalances } from '../src/coordinator/ledger/readBalances.ts';
import { verifyLedger } from '../src/coordinator/ledger/verifyLedger.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { createEpochClock } from '../src/coordinator/market/epochClock.ts';
import { closeEpoch } from '../src/coordinator/settlement/closeEpoch.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import { createLogger } from '../src/logger.ts';
import { Rng } from '../src/protocol/rng.ts';
import { shareSensorEmission } from '../src/sensors/rewards/shareSensorEmission.ts';
import { isOnLand } from '../src/sensors/scoring/landMask.ts';
import { type DeviceScore, scoreSensors } from '../src/sensors/scoring/scoreSensors.ts';

const DAY = 86_400_000;
const STEP = 60_000; // ws1000-60s
const dayStart = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const owners = {
  honest: '0x1111111111111111111111111111111111111111',
  cheat: '0x2222222222222222222222222222222222222222',
  odd: '0x3333333333333333333333333333333333333333',
};
const dev = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;
const devices = {
  a: { address: dev(0xa), owner: owners.honest, lat: 52.37, lon: 4.9 },
  b: { address: dev(0xb), owner: owners.honest, lat: 52.4, lon: 4.85 },
  c: { address: dev(0xc), owner: owners.honest, lat: 52.3, lon: 4.95 },
  copier: { address: dev(0xd), owner: owners.cheat, lat: 52.36, lon: 4.88 },
  indoor: { address: dev(0xe), owner: owners.cheat, lat: 52.38, lon: 4.92 },
  sea: { address: dev(0xf), owner: owners.odd, lat: 52.5, lon: 3.0 },
  teleport: { address: dev(0x10), owner: owners.odd, lat: 52.35, lon: 4.9 },
  outlier: { address: dev(0x11), owner: owners.odd, lat: 52.33, lon: 4.87 },
};

let store: Store;
let scores: Map<string, DeviceScore>;

/** A plausible day of one station: diurnal temperature and humidity, its own sensor noise. */
function station(seed: string, opts: { tempOffset?: number; indoor?: boolean } = {}) {
  const rng = new Rng(seed);
  const noise = (s: number) => (rng.next() + rng.next() + rng.next() - 1.5) * s;
  const rows: [string, number, number][] = [];
  for (let t = dayStart; t < dayStart + DAY; t += STEP) {
    const d = Math.sin((2 * Math.PI * (t - dayStart - 6 * 3_600_000)) / DAY);
    const temp = opts.indoor ? 21 + noise(0.2) : 10 + 5 * d + (opts.tempOffset ?? 0) + noise(0.3);
    rows.push(['temperature', t, temp]);
    rows.push(['humidity', t, opts.indoor ? 45 + noise(1) : 70 - 10 * d + noise(1)]);
    rows.push(['pressure', t, 1013 + 2 * Math.sin((t - dayStart) / DAY) + noise(0.1)]);
    rows.push(['windSpeed', t, Math.abs(3 + noise(2))]);
    rows.push(['illuminance', t, Math.max(0, Math.round(60_000 * d + noise(500)))]);
  }
  return rows;
}

before(async () => {
  store = await openStore({ path: ':memory:' });
  const data: Record<string, [string, number, number][]> = {
    a: station('a'),
    b: station('b'),
    c: station('c'),
    indoor: station('indoor', { indoor: true }),
    sea: station('sea'),
    teleport: station('teleport'),
    outlier: station('outlier', { tempOffset: 12 }),
  };
  // The copier republishes a's stream with a whisper of noise of its own.
  const rng = new Rng('copier');
  data.copier = data.a!.map(([v, t, x]) => [v, t, x + (rng.next() - 0.5) * 0.01]);
  const insDevice = store.sqlite.prepare(
    `INSERT INTO sensor_devices (address, owner, model, lat, lon, registration, registered_at)
     VALUES (?, ?, 'ws1000-60s', ?, ?, '{}', ?)`,
  );
  const insReading = store.sqlite.prepare(
    'INSERT INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
  );
  const insBatch = store.sqlite.prepare(
    `INSERT INTO sensor_batches (id, device, sequence, issued_at, received_at, lat, lon, readings, stored, source)
     VALUES (?, ?, ?, 0, ?, ?, ?, 0, 0, 'http')`,
  );
  let registered = 0;
  store.sqlite.transaction(() => {
    for (const [name, d] of Object.entries(devices)) {
      insDevice.run(d.address, d.owner, d.lat, d.lon, dayStart - DAY + registered++ * 1000);
      for (const [v, t, x] of data[name]!) insReading.run(d.address, v, t, x);
      // One batch an hour, with a GPS fix at the claimed place …
      for (let h = 0; h < 24; h++)
        insBatch.run(`${name}-${h}`, d.address, h, dayStart + h * 3_600_000 + 1000, d.lat, d.lon);
    }
    // … except the teleporter, which is in Paris ten minutes after being in Amsterdam.
    insBatch.run('teleport-x', devices.teleport.address, 100, dayStart + 3_600_000 + 601_000, 48.86, 2.35);
  })();
  scores = new Map(
    (await scoreSensors(store.db, { fromMs: dayStart, toMs: dayStart + DAY })).map((s) => [s.device, s]),
  );
});
after(async () => {
  await store.close();
});

test('the land mask knows land from sea (Natural Earth 1:50m via world-atlas)', () => {
  assert.equal(isOnLand(52.37, 4.9), true); // Amsterdam
  assert.equal(isOnLand(-33.87, 151.21), true); // Sydney (coast)
  assert.equal(isOnLand(52.5, 3.0), false); // North Sea
  assert.equal(isOnLand(0, -30), false); // Atlantic
});

test('honest stations score well and carry no flag', () => {
  for (const d of [devices.a, devices.b, devices.c]) {
    const s = scores.get(d.address)!;
    assert.deepEqual(s.flags, [], `${d.address}: ${JSON.stringify(s)}`);
    assert.ok(s.score > 0.8, `score ${s.score}`);
    assert.equal(s.locationScore, 1);
  }
});

test('a copied stream, an indoor station, an impossible location and a spatial outlier are flagged', () => {
  const flags = (d: { address: string }) => scores.get(d.address)!.flags;
  assert.ok(flags(devices.copier).includes('copy'), "flags(devices.copier).includes('copy')");
  assert.equal(scores.get(devices.copier.address)!.detail.copyOf, devices.a.address);
  assert.ok(!flags(devices.a).includes('copy'), 'the original is not the copier');
  assert.ok(flags(devices.indoor).includes('indoor'), "flags(devices.indoor).includes('indoor')");
  assert.ok(flags(devices.sea).includes('at-sea'), "flags(devices.sea).includes('at-sea')");
  assert.ok(flags(devices.teleport).includes('teleport'), "flags(devices.teleport).includes('teleport')");
  assert.ok(
    flags(devices.outlier).includes('spatial-outlier'),
    "flags(devices.outlier).includes('spatial-outlier')",
  );
  for (const d of [devices.copier, devices.indoor, devices.sea, devices.teleport])
    assert.equal(scores.get(d.address)!.score, 0, d.address);
  assert.ok(
    scores.get(devices.outlier.address)!.score < 0.5,
    'scores.get(devices.outlier.address)!.score < 0.5',
  );
});

test('sensor emission: owners by score, an exact integer split', () => {
  const shares = shareSensorEmission(1_000_000_007n, [...scores.values()]);
  let sum = 0n;
  for (const v of shares.values()) sum += v;
  assert.equal(sum, 1_000_000_007n);
  assert.equal(shares.get(owners.cheat), undefined, 'copier and indoor station earn nothing');
  assert.ok(
    shares.get(owners.honest)! > 5n * (shares.get(owners.odd) ?? 0n),
    'shares.get(owners.honest)! > 5n * (shares.get(owners.odd) ?? 0n)',
  );
});

test('closeEpoch posts the sensor emission beside the compute emission, capped, into the rewards tree', async () => {
  const clock = createEpochClock(dayStart, DAY);
  const log = createLogger('test', { level: 'silent' });
  const market = createMarket({ db: store.db, clock, log, now: () => dayStart + DAY + 1 });
  // Far above the token's limit: closeEpoch must cap the epoch's total at MAX_EMISSION_PER_EPOCH.
  await closeEpoch({
    db: store.db,
    market,
    // No clients, slashes or providers: closeEpoch reads only where the contracts are (for the
    // evidence bundle's header), nothing from the chain itself.
    chain: {
      addresses: { settlement: `0x${'5e'.repeat(20)}` },
      publicClient: { chain: { id: 31337 } },
    } as unknown as PlexusReader,
    epoch: 1,
    emissionPerEpoch: 100n * PLX,
    sensorEmissionPerEpoch: 100_000n * PLX,
    now: dayStart + DAY + 1,
  });
  const row = await store.db
    .selectFrom('epochs')
    .selectAll()
    .where('epoch', '=', 1)
    .executeTakeFirstOrThrow();
  const payload = payloadFromJson(row.payload!);
  assert.equal(payload.emission, MAX_EMISSION_PER_EPOCH);
  const earnings = await readBalances(store.db, { prefix: 'provider:', maxEpoch: 1 });
  let total = 0n;
  for (const [, v] of earnings) total -= v;
  assert.equal(total, MAX_EMISSION_PER_EPOCH);
  assert.equal(earnings.get(`provider:${owners.cheat}:earnings`), undefined);
  assert.ok(
    (earnings.get(`provider:${owners.honest}:earnings`) ?? 0n) < 0n,
    '(earnings.get(`provider:{owners.honest}:earnings`) ?? 0n) < 0n',
  );
  assert.equal(payload.totalEarned, MAX_EMISSION_PER_EPOCH);
  const tree = JSON.parse(row.tree!) as { values: { value: [string, string] }[] };
  assert.ok(
    tree.values.some((v) => v.value[0].toLowerCase() === owners.honest),
    'tree.values.some((v) => v.value[0].toLowerCase() === owners.honest)',
  );
  const epochScores = await store.db
    .selectFrom('sensor_scores')
    .selectAll()
    .where('kind', '=', 'epoch')
    .execute();
  assert.equal(epochScores.length, Object.keys(devices).length);
  const report = await verifyLedger(store.db);
  assert.deepEqual(report.problems, []);
});
