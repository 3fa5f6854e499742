/**
 * The market in development mode (no chain), in process with scripted providers: placement
 * respects provider floors and the client's signed cap, accepted executions are billed into the
 * ledger at measured usage × price in force minus the protocol fee, and the money API answers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import { DEFAULT_CPU_BASE_PRICE, PROTOCOL_FEE_BPS } from '../src/coordinator/market/constants.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
let client: PlexusClient;
let model: string;
const raw: RawProvider[] = [];

before(async () => {
  c = await testCoordinator();
  client = createClient({ url: c.url, account: randomAccount() });
  model = (await client.uploadFile(ppocrDetectionModelPath())).cid;
});
after(async () => {
  await Promise.all(raw.map((p) => p.close()));
  await c.cleanup();
});

const get = async (path: string) => {
  const res = await fetch(`${c.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

test('work goes only to providers whose floor is within the cap, and is billed at usage × price − fee', async () => {
  const dear = await connectRawProvider(c.url, randomAccount(), {
    floorPrices: { cpu: (10n ** 18n).toString() },
  });
  const cheap = await connectRawProvider(c.url, randomAccount());
  raw.push(dear, cheap);
  const inputs = [];
  for (let i = 0; i < 2; i++) inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(i)))).cid);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model,
    inputs,
    deadline: Math.floor(Date.now() / 1000) + 120,
    verification: { policy: 'none' },
  });
  for (let i = 0; i < 2; i++) {
    const assign = await cheap.next('assign');
    const ack = await cheap.deliver(assign, ocrInput(i));
    assert.equal(ack.accepted, true);
  }
  assert.equal((await client.waitForJob(jobId)).status, 'completed');
  assert.equal(dear.take('assign'), undefined, 'the provider above the cap got nothing');
  // The scripted provider measured 5 cpu-ms per task: 5 × base price / 1000 each.
  const charge = (5n * DEFAULT_CPU_BASE_PRICE) / 1000n;
  const earned = charge - (charge * PROTOCOL_FEE_BPS) / 10_000n;
  const providers = (await get('/v1/providers')).body.providers as {
    address: string;
    earnings: string;
    stake: null;
  }[];
  const byAddress = new Map(providers.map((p) => [p.address, p]));
  assert.equal(byAddress.get(cheap.account.address.toLowerCase())?.earnings, (2n * earned).toString());
  assert.equal(byAddress.get(dear.account.address.toLowerCase())?.earnings, '0');
  assert.equal(byAddress.get(cheap.account.address.toLowerCase())?.stake, null);
  const epochs = (await get('/v1/epochs')).body.epochs as {
    status: string;
    tasksSettled: number;
    clientCharges: string;
    protocolFees: string;
  }[];
  assert.equal(epochs[0]?.status, 'open');
  assert.equal(epochs[0]?.tasksSettled, 2);
  assert.equal(epochs[0]?.clientCharges, (2n * charge).toString());
  assert.equal(epochs[0]?.protocolFees, (2n * (charge - earned)).toString());
});

test('a job whose cap is below every floor waits instead of running', async () => {
  const input = (await client.uploadBlob(encodeSafetensors(ocrInput(9)))).cid;
  const { jobId } = await client.submitJob(
    { kind: 'onnx.infer', model, inputs: [input], deadline: Math.floor(Date.now() / 1000) + 120 },
    { maxPricePerUnit: 1n },
  );
  await c.loop.dispatch();
  await new Promise((r) => setTimeout(r, 500));
  for (const p of raw) assert.equal(p.take('assign'), undefined);
  assert.equal((await client.getJob(jobId)).status, 'queued');
});

test('the money API in development mode', async () => {
  const prices = (await get('/v1/prices')).body.classes as {
    class: string;
    unit: string;
    basePrice: string;
  }[];
  assert.deepEqual(prices[0], {
    ...prices[0],
    class: 'cpu',
    unit: 'cpu-core-second',
    basePrice: DEFAULT_CPU_BASE_PRICE.toString(),
  });
  const chain = await get('/v1/chain');
  assert.equal(chain.status, 404);
  assert.equal((chain.body.error as { code: string }).code, 'PLX_NOT_FOUND');
  const rewards = await get(`/v1/rewards/${randomAccount().address}`);
  assert.equal(rewards.status, 404);
  assert.equal((await get('/v1/rewards/not-an-address')).status, 400);
});
