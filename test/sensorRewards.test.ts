/**
 * Sensor money on a real chain (anvil): an epoch with sensor readings and a dataset purchase is
 * closed, signed and finalized by the real settlement loop; the purchase is collected from the
 * buyer's escrow, the sensor emission goes to device owners by quality (a copier's owner gets no
 * emission), and an owner claims its earnings from EpochSettlement with the Merkle proof of the
 * same cumulative-earnings tree compute providers claim from.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { createPublicClient, createTestClient, createWalletClient, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deposit } from '../src/chain/actions/client/deposit.ts';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from '../src/chain/actions/getPlxBalance.ts';
import { claimRewards } from '../src/chain/actions/provider/claimRewards.ts';
import { transferPlx } from '../src/chain/actions/transferPlx.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { PLX } from '../src/chain/constants.ts';
import { deployPlexus } from '../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { createEpochClock } from '../src/coordinator/market/epochClock.ts';
import { createSettlement } from '../src/coordinator/settlement/createSettlement.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import { createLogger } from '../src/logger.ts';
import { Rng } from '../src/protocol/rng.ts';
import { DATASET_FEE_BPS, DEFAULT_PRICE_PER_READING } from '../src/sensors/constants.ts';
import { createDatasetSeller } from '../src/sensors/dataset/createDatasetSeller.ts';
import { datasetQuerySchema, signDatasetRequest } from '../src/sensors/protocol.ts';

const EPOCH_S = 3600;
let anvil: AnvilInstance;
let admin: PlexusWriter;
let store: Store;

before(async () => {
  anvil = await startAnvil({ accounts: 3 });
  const [k0] = anvil.privateKeys as [Hex];
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
    threshold: 1,
    epochDuration: BigInt(EPOCH_S),
    withdrawalDelay: BigInt(EPOCH_S),
  });
  admin = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, k0);
  store = await openStore({ path: ':memory:' });
});
after(async () => {
  await store?.close();
  await anvil?.stop();
});

test('a dataset charge and the sensor emission are settled on chain; an owner claims its earnings', async () => {
  const { genesisTime } = await getSettlementState(admin);
  const genesisMs = Number(genesisTime) * 1000;
  const honest = privateKeyToAccount(anvil.privateKeys[1]!).address.toLowerCase();
  const cheat = privateKeyToAccount(anvil.privateKeys[2]!).address.toLowerCase();
  // Epoch 1 = [genesis, genesis + 1 h): two honest stations and one copying the first.
  const devices = [
    { address: `0x${'a'.repeat(40)}`, owner: honest, lat: 52.37, lon: 4.9 },
    { address: `0x${'b'.repeat(40)}`, owner: honest, lat: 52.4, lon: 4.85 },
    { address: `0x${'c'.repeat(40)}`, owner: cheat, lat: 52.36, lon: 4.88 },
  ];
  const insDevice = store.sqlite!.prepare(
    `INSERT INTO sensor_devices (address, owner, model, lat, lon, registration, registered_at)
     VALUES (?, ?, 'ws1000-60s', ?, ?, '{}', ?)`,
  );
  const insReading = store.sqlite!.prepare(
    'INSERT INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
  );
  const insBatch = store.sqlite!.prepare(
    `INSERT INTO sensor_batches (id, device, sequence, issued_at, received_at, readings, stored, source)
     VALUES (?, ?, 1, 0, ?, 0, 0, 'mqtt')`,
  );
  const streams = devices.slice(0, 2).map((_, i) => {
    const rng = new Rng(`station ${i}`);
    const rows: [string, number, number][] = [];
    for (let t = genesisMs; t < genesisMs + EPOCH_S * 1000; t += 60_000) {
      const n = () => (rng.next() - 0.5) * 0.4;
      rows.push(['temperature', t, 12 + (t - genesisMs) / 1e6 + n()]);
      rows.push(['humidity', t, 70 + n() * 5]);
      rows.push(['pressure', t, 1013 + n()]);
      rows.push(['windSpeed', t, 3 + n() * 4]);
      rows.push(['illuminance', t, 20_000 + n() * 1000]);
    }
    return rows;
  });
  const copy = streams[0]!.map(([v, t, x]): [string, number, number] => [v, t, x + 0.001]);
  store.sqlite!.transaction(() => {
    devices.forEach((d, i) => {
      insDevice.run(d.address, d.owner, d.lat, d.lon, genesisMs - 1000 + i);
      for (const [v, t, x] of i < 2 ? streams[i]! : copy) insReading.run(d.address, v, t, x);
      insBatch.run(`batch-${i}`, d.address, genesisMs + 60_000);
    });
  })();

  // The chain's clock past epoch 1, and the coordinator's with it.
  const testClient = createTestClient({ chain: anvil.chain, mode: 'anvil', transport: http(anvil.rpcUrl) });
  await testClient.increaseTime({ seconds: EPOCH_S + 5 });
  await testClient.mine({ blocks: 1 });
  const now = () => genesisMs + (EPOCH_S + 10) * 1000;
  const log = createLogger('test', { level: 'silent' });
  const market = createMarket({
    db: store.db,
    clock: createEpochClock(genesisMs, EPOCH_S * 1000),
    chain: admin,
    log,
    now,
  });
  // Halfway through epoch 1 a client buys the stations' temperature readings (3 × 60).
  const buyerKey = anvil.privateKeys[2] as Hex;
  const buyerAccount = privateKeyToAccount(buyerKey);
  const buyer = connectPlexus(
    { rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: admin.addresses },
    buyerKey,
  );
  await transferPlx(admin, buyerAccount.address, PLX);
  await deposit(buyer, PLX / 1000n);
  const midEpoch = genesisMs + 1_800_000;
  const seller = createDatasetSeller({
    db: store.db,
    market,
    chainId: anvil.chain.id,
    pricePerReading: DEFAULT_PRICE_PER_READING,
    now: () => midEpoch,
  });
  const query = datasetQuerySchema.parse({
    bbox: '4,52,5,53',
    from: genesisMs,
    to: genesisMs + EPOCH_S * 1000,
    variables: 'temperature',
  });
  const p = await signDatasetRequest(buyerAccount, anvil.chain.id, query, {
    maxCost: PLX,
    issuedAt: Math.floor(midEpoch / 1000),
  });
  const sale = await seller.sell(query, {
    client: buyerAccount.address,
    nonce: p.nonce!,
    maxCost: p.maxCost!,
    issuedAt: Number(p.issuedAt),
    signature: p.signature as Hex,
  });
  assert.equal(sale.readings, 180);
  const cost = 180n * DEFAULT_PRICE_PER_READING;
  const revenue = cost - (cost * DATASET_FEE_BPS) / 10_000n;
  const settlement = createSettlement({
    db: store.db,
    market,
    writer: admin,
    validators: [privateKeyToAccount(anvil.privateKeys[0] as Hex)],
    chainId: anvil.chain.id,
    emissionPerEpoch: 100n * PLX,
    sensorEmissionPerEpoch: 50n * PLX,
    log,
    now,
  });
  for (let i = 0; i < 10; i++) {
    await settlement.tick();
    const row = await store.db
      .selectFrom('epochs')
      .select('status')
      .where('epoch', '=', 1)
      .executeTakeFirst();
    if (row?.status === 'settled') break;
  }
  const row = await store.db
    .selectFrom('epochs')
    .selectAll()
    .where('epoch', '=', 1)
    .executeTakeFirstOrThrow();
  assert.equal(row.status, 'settled');
  // No compute provider was online: the epoch minted exactly the sensor emission; it collected
  // the dataset charge from the buyer's escrow.
  const payload = JSON.parse(row.payload!) as {
    emission: string;
    charges: { client: string; amount: string }[];
  };
  assert.equal(payload.emission, (50n * PLX).toString());
  assert.deepEqual(payload.charges, [
    { client: buyerAccount.address.toLowerCase(), amount: cost.toString() },
  ]);
  assert.equal((await getEscrowBalance(admin, buyerAccount.address)).balance, PLX / 1000n - cost);
  const tree = StandardMerkleTree.load(JSON.parse(row.tree!));
  const leaves = new Map(
    [...tree.entries()].map(([i, [account, amount]]) => [
      String(account).toLowerCase(),
      { i, amount: BigInt(amount as string) },
    ]),
  );
  // Revenue by readings sold: two thirds to the honest owner (two stations), a third to the
  // copier's owner (its readings were sold too); the emission only to the honest owner.
  const cheatRevenue = leaves.get(cheat)?.amount ?? 0n;
  assert.ok(cheatRevenue > 0n && cheatRevenue <= revenue / 3n + 1n, `copier owner ${cheatRevenue}`);
  const leaf = leaves.get(honest)!;
  assert.equal(leaf.amount, 50n * PLX + revenue - cheatRevenue);
  const before = await getPlxBalance(admin, honest as Hex);
  await claimRewards(admin, {
    account: honest as Hex,
    cumulativeAmount: leaf.amount,
    proof: tree.getProof(leaf.i) as Hex[],
  });
  assert.equal((await getPlxBalance(admin, honest as Hex)) - before, leaf.amount);
});
