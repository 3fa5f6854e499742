/**
 * Sensor facts (docs/validators.md, "Sensors and datasets"): every sensor batch the bundle reports
 * carries its device's signature over the readings' digest (`ReadingBatch`), and every dataset sale
 * is backed by its client's signed `DatasetRequest` — purchase id from the client and nonce, cost
 * = readings × price per reading within the signed cap, the protocol's fee, and the owners' shares
 * split by reading counts with the same `splitExact` the seller uses — exactly as posted.
 */
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import type { EntryFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { DATASET_FEE_BPS } from '../sensors/constants.ts';
import { verifySensorMessage } from '../sensors/identity/sensorMessages.ts';
import { type DatasetQuery, datasetQueryHash } from '../sensors/protocol.ts';
import { splitExact } from '../sensors/rewards/splitExact.ts';
import type { FactDispute } from './checkFacts.ts';

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

async function signatureError(check: () => Promise<void>): Promise<string | null> {
  try {
    await check();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * One dataset-charge entry against its signed sale; null when it holds.
 *
 * @example
 * const wrong = await checkDatasetSale(entry, chainId);
 */
export async function checkDatasetSale(e: EntryFact, chainId: number): Promise<FactDispute | null> {
  const name = `entry[${e.ref}]`;
  const s = e.sale;
  if (!s) return bad(`${name}.sale`, 'none', "the client's signed dataset request");
  const client = s.client.toLowerCase();
  const id = keccak256(toBytes(`dataset:${client}:${s.nonce}`));
  if (e.ref !== `dataset:${id}` || s.purchaseId !== id) return bad(`${name}.ref`, e.ref, `dataset:${id}`);
  const err = await signatureError(() =>
    verifySensorMessage({
      chainId,
      primaryType: 'DatasetRequest',
      message: {
        client: s.client,
        queryHash: datasetQueryHash(s.query as DatasetQuery),
        nonce: BigInt(s.nonce),
        maxCost: BigInt(s.maxCost),
        issuedAt: BigInt(s.issuedAt),
      },
      signature: s.signature,
      expectedSigner: s.client,
      nowSec: s.issuedAt,
    }),
  );
  if (err) return bad(`${name}.signature`, err, `signed by ${s.client}`);
  const cost = BigInt(s.readings) * BigInt(s.pricePerReading);
  if (cost > BigInt(s.maxCost)) return bad(`${name}.cost`, cost, `at most the signed maxCost ${s.maxCost}`);
  const counts = new Map(Object.entries(s.owners).map(([o, n]) => [o.toLowerCase(), BigInt(n)]));
  const sold = [...counts.values()].reduce((a, n) => a + n, 0n);
  if (sold !== BigInt(s.readings)) return bad(`${name}.owners`, sold, `${s.readings} readings`);
  const fee = (cost * DATASET_FEE_BPS) / 10_000n;
  const expected = new Map<string, bigint>([[`client:${client}:unsettled`, cost]]);
  for (const [o, v] of splitExact(cost - fee, counts)) expected.set(`provider:${o}:earnings`, -v);
  if (fee > 0n) expected.set('protocol:fees', -fee);
  const posted = new Map<string, bigint>();
  for (const p of e.postings) posted.set(p.account, (posted.get(p.account) ?? 0n) + BigInt(p.amount));
  for (const account of new Set([...expected.keys(), ...posted.keys()])) {
    const want = expected.get(account) ?? 0n;
    const got = posted.get(account) ?? 0n;
    if (want !== got) return bad(`${name}.postings[${account}]`, got, want);
  }
  return null;
}

/**
 * Every reported sensor batch is signed by its device; null when all are.
 *
 * @example
 * const wrong = await checkSensorBatches(facts, chainId);
 */
export async function checkSensorBatches(
  facts: Pick<EpochFacts, 'sensorBatches'>,
  chainId: number,
): Promise<FactDispute | null> {
  for (const b of facts.sensorBatches ?? []) {
    const err = await signatureError(() =>
      verifySensorMessage({
        chainId,
        primaryType: 'ReadingBatch',
        message: {
          device: b.device as Address,
          sequence: BigInt(b.sequence),
          payloadHash: b.payloadHash as Hex,
          issuedAt: BigInt(b.issuedAt),
        },
        signature: b.signature,
        expectedSigner: b.device,
        nowSec: b.issuedAt,
      }),
    );
    if (err)
      return bad(
        `sensorBatch[${b.device.toLowerCase()}:${b.sequence}].signature`,
        err,
        `signed by ${b.device}`,
      );
  }
  return null;
}
