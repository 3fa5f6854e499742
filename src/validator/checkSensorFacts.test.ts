/**
 * Sensor facts (checkSensorFacts.ts) with real keys: a dataset sale exactly as its client signed it
 * and as the seller posts it holds; owners' shares moved, a cost above the signed cap, a request
 * signed by someone else and a missing request are refused; a sensor batch whose digest its device
 * did not sign is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, keccak256, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { EntryFact, SensorBatchFact } from '../coordinator/settlement/epochFacts.ts';
import { DATASET_FEE_BPS } from '../sensors/constants.ts';
import { signSensorMessage } from '../sensors/identity/sensorMessages.ts';
import { datasetQueryHash, datasetQuerySchema } from '../sensors/protocol.ts';
import { splitExact } from '../sensors/rewards/splitExact.ts';
import { checkDatasetSale, checkSensorBatches } from './checkSensorFacts.ts';

const CHAIN_ID = 31337;
const clientKey = privateKeyToAccount(`0x${'0c'.repeat(32)}`);
const deviceKey = privateKeyToAccount(`0x${'0e'.repeat(32)}`);
const client = clientKey.address.toLowerCase() as Hex;
const ownerA = `0x${'a1'.repeat(20)}`;
const ownerB = `0x${'b2'.repeat(20)}`;

async function sale(signer = clientKey): Promise<EntryFact> {
  const query = datasetQuerySchema.parse({ bbox: '0,0,10,10', from: 0, to: 1000, variables: 'pm25' });
  const issuedAt = 1_790_000_000;
  const signature = await signSensorMessage(signer, CHAIN_ID, 'DatasetRequest', {
    client: clientKey.address,
    queryHash: datasetQueryHash(query),
    nonce: 3n,
    maxCost: 10_000n,
    issuedAt: BigInt(issuedAt),
  });
  const cost = 7n * 1000n;
  const fee = (cost * DATASET_FEE_BPS) / 10_000n;
  const shares = splitExact(
    cost - fee,
    new Map([
      [ownerA, 4n],
      [ownerB, 3n],
    ]),
  );
  const purchaseId = keccak256(toBytes(`dataset:${client}:3`));
  return {
    ref: `dataset:${purchaseId}`,
    kind: 'dataset-charge',
    postings: [
      { account: `client:${client}:unsettled`, amount: cost.toString() },
      ...[...shares].map(([o, v]) => ({ account: `provider:${o}:earnings`, amount: (-v).toString() })),
      { account: 'protocol:fees', amount: (-fee).toString() },
    ],
    sale: {
      purchaseId,
      client,
      nonce: '3',
      maxCost: '10000',
      issuedAt,
      signature,
      query: JSON.parse(JSON.stringify(query)),
      readings: 7,
      pricePerReading: '1000',
      owners: { [ownerA]: '4', [ownerB]: '3' },
    },
  };
}

test('a dataset sale as its client signed it holds; each way of moving its money is refused', async () => {
  assert.equal(await checkDatasetSale(await sale(), CHAIN_ID), null);
  const moved = await sale();
  moved.postings[1]!.amount = (BigInt(moved.postings[1]!.amount) - 1n).toString();
  moved.postings[2]!.amount = (BigInt(moved.postings[2]!.amount) + 1n).toString();
  assert.match((await checkDatasetSale(moved, CHAIN_ID))?.fact ?? 'accepted', /\.postings\[provider:0x/);
  const dear = await sale();
  dear.sale!.pricePerReading = '2000';
  assert.match((await checkDatasetSale(dear, CHAIN_ID))?.fact ?? 'accepted', /\.cost$/);
  const forged = await sale(deviceKey);
  assert.match((await checkDatasetSale(forged, CHAIN_ID))?.fact ?? 'accepted', /\.signature$/);
  const { sale: _, ...unsigned } = await sale();
  assert.match((await checkDatasetSale(unsigned, CHAIN_ID))?.fact ?? 'accepted', /\.sale$/);
});

test('a sensor batch holds only with its device signature over its digest', async () => {
  const payloadHash = `0x${'9d'.repeat(32)}` as Hex;
  const b: SensorBatchFact = {
    device: deviceKey.address,
    sequence: 4,
    payloadHash,
    issuedAt: 1_790_000_000,
    readings: 60,
    signature: await signSensorMessage(deviceKey, CHAIN_ID, 'ReadingBatch', {
      device: deviceKey.address,
      sequence: 4n,
      payloadHash,
      issuedAt: 1_790_000_000n,
    }),
  };
  assert.equal(await checkSensorBatches({ sensorBatches: [b] }, CHAIN_ID), null);
  const other = { ...b, payloadHash: `0x${'9e'.repeat(32)}` as Hex };
  assert.match(
    (await checkSensorBatches({ sensorBatches: [other] }, CHAIN_ID))?.fact ?? 'accepted',
    /^sensorBatch\[0x[0-9a-f]{40}:4\]\.signature$/,
  );
});
