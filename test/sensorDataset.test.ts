/**
 * Paid sensor datasets: over HTTP in development mode (CSV and Parquet, signed requests, the
 * charge in the ledger, replays, maxCost, minQuality), and against a real anvil chain (escrow
 * admission: PLX_INSUFFICIENT_ESCROW without escrow, a charge within it otherwise).
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { createPublicClient, createWalletClient, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deposit } from '../src/chain/actions/client/deposit.ts';
import { transferPlx } from '../src/chain/actions/transferPlx.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus } from '../src/chain/deployPlexus.ts';
import { startAnvil } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { accounts } from '../src/coordinator/ledger/accounts.ts';
import { readBalances } from '../src/coordinator/ledger/readBalances.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { createEpochClock } from '../src/coordinator/market/epochClock.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { isPlexusError } from '../src/errors/PlexusError.ts';
import { createLogger } from '../src/logger.ts';
import { DATASET_FEE_BPS, DEFAULT_PRICE_PER_READING } from '../src/sensors/constants.ts';
import { createDatasetSeller } from '../src/sensors/dataset/createDatasetSeller.ts';
import { registerDevice } from '../src/sensors/identity/registerDevice.ts';
import {
  type DatasetQuery,
  datasetQuerySchema,
  signDatasetRequest,
  signDeviceRegistration,
  signReadingBatch,
} from '../src/sensors/protocol.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';

const CHAIN = 31337;
const DAY = 86_400_000;

describe('datasets over HTTP (development mode)', () => {
  let c: Awaited<ReturnType<typeof testCoordinator>>;
  const owner = randomAccount();
  const device = randomAccount();
  const buyer = randomAccount();
  // Noon yesterday (UTC): every reading falls in one day, whatever the time of the run.
  const t0 = Math.floor(Date.now() / DAY) * DAY - DAY / 2;
  let query: DatasetQuery;

  before(async () => {
    c = await testCoordinator();
    const post = (path: string, body: unknown) =>
      fetch(`${c.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await post(
      '/v1/sensors/devices',
      await signDeviceRegistration(owner, CHAIN, {
        device,
        model: 'ws1000',
        lat: 52.37,
        lon: 4.9,
      }),
    );
    // 20 samples × (temperature, humidity) = 40 readings.
    const samples = Array.from({ length: 20 }, (_, i) => ({
      t: t0 + i * 16_000,
      values: { temperature: 15 + i / 10, humidity: 60 },
    }));
    const res = await post(
      '/v1/sensors/batches',
      await signReadingBatch(device, CHAIN, { sequence: 1, samples }),
    );
    assert.equal(res.status, 200);
    query = datasetQuerySchema.parse({
      bbox: '4,52,5,53',
      from: t0,
      to: t0 + 3_600_000,
      variables: 'temperature',
      format: 'csv',
    });
  });
  after(async () => {
    await c.cleanup();
  });

  const buy = async (q: DatasetQuery, maxCost = PLX, nonce?: bigint) => {
    const params = await signDatasetRequest(buyer, CHAIN, q, { maxCost, ...(nonce ? { nonce } : {}) });
    return fetch(`${c.url}/v1/sensors/dataset?${new URLSearchParams(params)}`);
  };

  test('CSV: the readings asked for, priced per reading, charged to the buyer and paid to the owner', async () => {
    const res = await buy(query, PLX, 1n);
    assert.equal(res.status, 200);
    const csv = await res.text();
    const lines = csv.trim().split('\n');
    assert.equal(lines[0], 'device,lat,lon,variable,time,value,flag,quality');
    assert.equal(lines.length, 21);
    assert.match(lines[1]!, new RegExp(`^${device.address.toLowerCase()},52.37,4.9,temperature,`));
    const cost = 20n * DEFAULT_PRICE_PER_READING;
    assert.equal(res.headers.get('x-plexus-cost'), cost.toString());
    const bal = await readBalances(c.store.db, {});
    assert.equal(bal.get(accounts.clientUnsettled(buyer.address)), cost);
    const fee = (cost * DATASET_FEE_BPS) / 10_000n;
    assert.equal(bal.get(accounts.providerEarnings(owner.address)), -(cost - fee));
    assert.equal(bal.get(accounts.protocolFees), -fee);
    // The same signed request again is a replay.
    const again = await buy(query, PLX, 1n);
    assert.equal(again.status, 409);
  });

  test('Parquet: readable by a Parquet reader, same rows', async () => {
    const res = await buy({ ...query, variables: 'temperature,humidity', format: 'parquet' });
    assert.equal(res.status, 200);
    const buf = await res.arrayBuffer();
    const rows = (await parquetReadObjects({ file: buf })) as {
      variable: string;
      value: number;
      time: Date;
    }[];
    assert.equal(rows.length, 40);
    assert.deepEqual([...new Set(rows.map((r) => r.variable))].sort(), ['humidity', 'temperature']);
    assert.ok(
      rows.some((r) => r.variable === 'temperature' && r.value === 15),
      "rows.some((r) => r.variable === 'temperature' && r.value === 15)",
    );
  });

  test('refused: cost above the signed maxCost, a tampered query, minQuality over unscored days', async () => {
    const dear = await buy(query, 1n);
    assert.equal(dear.status, 402);
    assert.equal(
      ((await dear.json()) as { error: { code: string } }).error.code,
      'PLX_SENSOR_COST_ABOVE_MAX',
    );
    const params = await signDatasetRequest(buyer, CHAIN, query, { maxCost: PLX });
    const tampered = await fetch(
      `${c.url}/v1/sensors/dataset?${new URLSearchParams({ ...params, bbox: '-180,-90,180,90' })}`,
    );
    assert.equal(((await tampered.json()) as { error: { code: string } }).error.code, 'PLX_BAD_SIGNATURE');
    const picky = await buy({ ...query, minQuality: 0.5 });
    assert.equal(picky.headers.get('x-plexus-readings'), '0');
    // Once the day is scored, minQuality compares against the device-day score.
    const day = Math.floor(t0 / DAY) * DAY;
    await c.store.db
      .insertInto('sensor_scores')
      .values({
        device: device.address.toLowerCase(),
        kind: 'day',
        window_start: day,
        window_end: day + DAY,
        data_score: 0.8,
        location_score: 1,
        score: 0.8,
        flags: '[]',
        detail: '{}',
        computed_at: Date.now(),
      })
      .execute();
    assert.equal((await buy({ ...query, minQuality: 0.5 })).headers.get('x-plexus-readings'), '20');
    assert.equal((await buy({ ...query, minQuality: 0.9 })).headers.get('x-plexus-readings'), '0');
  });
});

// Security review: the readings were loaded (up to 1,000,001 rows, one synchronous query) before the
// cost was compared with maxCost or escrow, and the nonce was spent only by a sale: one signed
// request from a key with nothing, replayed, stalled the coordinator each time (20 s per 1M rows).
describe('datasets: refusals are cheap and answered once, sales are paged', () => {
  let c: Awaited<ReturnType<typeof testCoordinator>>;
  const DEVICES = 40;
  const PER_DEVICE = 5_000;
  const t0 = Date.now() - 3 * DAY;
  before(async () => {
    c = await testCoordinator();
    const sqlite = (c.store as unknown as { sqlite: import('better-sqlite3').Database }).sqlite;
    const dev = sqlite.prepare(
      `INSERT INTO sensor_devices (address, owner, model, lat, lon, registration, registered_at) VALUES (?, ?, 'ws1000', ?, ?, '{}', 0)`,
    );
    const rd = sqlite.prepare(
      'INSERT INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
    );
    sqlite.transaction(() => {
      for (let d = 0; d < DEVICES; d++) {
        const a = `0x${(d + 1).toString(16).padStart(40, '0')}`;
        dev.run(a, a, 30 + d / 100, -40 + d / 100);
        for (let i = 0; i < PER_DEVICE; i++) rd.run(a, 'temperature', t0 + i * 16_000, 15 + (i % 10));
      }
    })();
  });
  after(async () => {
    await c.cleanup();
  });

  test('a request nobody can pay for is refused without loading the readings, and only once', async () => {
    const q = datasetQuerySchema.parse({
      bbox: '-180,-90,180,90',
      from: 0,
      to: Date.now() + 60_000,
      variables: 'temperature',
    });
    const params = await signDatasetRequest(randomAccount(), CHAIN, q, { maxCost: 0n, nonce: 1n });
    const url = `${c.url}/v1/sensors/dataset?${new URLSearchParams(params)}`;
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const res = await fetch(url);
    h.disable();
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(res.status, 402, JSON.stringify(body));
    assert.equal(body.error.code, 'PLX_SENSOR_COST_ABOVE_MAX');
    // The old code loaded all 200,000 rows first: seconds of a blocked event loop.
    const blockedMs = h.max / 1e6;
    assert.ok(blockedMs < 1_000, `a refused request blocked the event loop ${Math.round(blockedMs)} ms`);
    const again = await fetch(url);
    assert.equal(again.status, 409, 'a refused request could be replayed');
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'PLX_REPLAY');
  });

  test('a sale larger than a page returns every reading once, in order', async () => {
    // Devices 0–5: 30,000 readings, more than one page (20,000).
    const q = datasetQuerySchema.parse({
      bbox: '-40.001,29.999,-39.945,30.055',
      from: 0,
      to: Date.now(),
      variables: 'temperature',
    });
    const n = 6 * PER_DEVICE;
    const params = await signDatasetRequest(randomAccount(), CHAIN, q, {
      maxCost: BigInt(n) * DEFAULT_PRICE_PER_READING,
    });
    const res = await fetch(`${c.url}/v1/sensors/dataset?${new URLSearchParams(params)}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-plexus-readings'), String(n));
    const lines = (await res.text()).trim().split('\n').slice(1);
    assert.equal(lines.length, n);
    const keys = lines.map((l) => l.split(',').slice(0, 5).join(','));
    assert.equal(new Set(keys).size, n, 'a reading was sold twice');
    assert.equal(keys[PER_DEVICE]!.split(',')[0], `0x${'2'.padStart(40, '0')}`, 'readings out of order');
  });
});

describe('datasets against escrow on a real chain (anvil)', () => {
  let anvil: Awaited<ReturnType<typeof startAnvil>>;
  let chainWriter: PlexusWriter;
  let funded: PlexusWriter;
  let store: Awaited<ReturnType<typeof openStore>>;
  const device = randomAccount();

  before(async () => {
    anvil = await startAnvil({ accounts: 3 });
    const [k0, , k2] = anvil.privateKeys as [Hex, Hex, Hex];
    const publicClient = createPublicClient({ chain: anvil.chain, transport: http(anvil.rpcUrl) });
    const walletClient = createWalletClient({
      account: privateKeyToAccount(k0),
      chain: anvil.chain,
      transport: http(anvil.rpcUrl),
    });
    const deployment = await deployPlexus({
      publicClient: publicClient as PlexusWriter['publicClient'],
      walletClient,
      validators: [walletClient.account.address],
    });
    chainWriter = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, k0);
    funded = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, k2);
    await transferPlx(chainWriter, funded.walletClient.account.address, 10n * PLX);
    await deposit(funded, PLX / 1000n); // enough for 1,000 readings at the default price
    store = await openStore({ path: ':memory:' });
  });
  after(async () => {
    await store?.close();
    await anvil?.stop();
  });

  test('a device owner must be a registered provider; a buyer must have the escrow to pay', async () => {
    const owner = randomAccount();
    const reg = await signDeviceRegistration(owner, CHAIN, {
      device,
      model: 'ws1000',
      lat: 52.37,
      lon: 4.9,
    });
    const { getProvider } = await import('../src/chain/actions/provider/getProvider.ts');
    await assert.rejects(
      registerDevice(
        {
          db: store.db,
          chainId: CHAIN,
          isProvider: async (a) => (await getProvider(chainWriter, a)).registered,
        },
        reg,
      ),
      (e) => isPlexusError(e, 'PLX_SENSOR_OWNER_NOT_PROVIDER'),
    );
    await registerDevice({ db: store.db, chainId: CHAIN }, reg);
    const t = Date.now() - 60_000;
    const ins = store.sqlite!.prepare(
      'INSERT INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
    );
    for (let i = 0; i < 600; i++) ins.run(device.address.toLowerCase(), 'temperature', t - i * 16_000, 10);
    const market = createMarket({
      db: store.db,
      clock: createEpochClock(Date.now() - 60_000, 3_600_000),
      chain: chainWriter,
      log: createLogger('test', { level: 'silent' }),
    });
    const seller = createDatasetSeller({
      db: store.db,
      market,
      chainId: CHAIN,
      pricePerReading: DEFAULT_PRICE_PER_READING,
    });
    const q = datasetQuerySchema.parse({
      bbox: '4,52,5,53',
      from: t - DAY,
      to: t + 1,
      variables: 'temperature',
    });
    const sell = async (account: ReturnType<typeof randomAccount>) => {
      const p = await signDatasetRequest(account, CHAIN, q, { maxCost: PLX });
      return seller.sell(q, {
        client: p.client as Hex,
        nonce: p.nonce!,
        maxCost: p.maxCost!,
        issuedAt: Number(p.issuedAt),
        signature: p.signature as Hex,
      });
    };
    await assert.rejects(sell(randomAccount()), (e) => isPlexusError(e, 'PLX_INSUFFICIENT_ESCROW'));
    const buyer = privateKeyToAccount(anvil.privateKeys[2]!);
    const sale = await sell(buyer);
    assert.equal(sale.readings, 600);
    assert.equal(
      (await market.availableEscrow(buyer.address)).available,
      PLX / 1000n - 600n * DEFAULT_PRICE_PER_READING,
    );
    // 600 more readings do not fit in what is left (400 readings' worth).
    await assert.rejects(sell(buyer), (e) => isPlexusError(e, 'PLX_INSUFFICIENT_ESCROW'));
  });
});
