/**
 * Test helpers for the settled-once checks (review s12): an epoch's bundle and the claim an honest
 * coordinator would make for it, and a dataset sale a client signed.
 */
import { type Hex, keccak256, toBytes } from 'viem';
import { computeEpoch, type EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import type { EntryFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { EVIDENCE_VERSION, encodeEvidence } from '../coordinator/settlement/evidence.ts';
import { DATASET_FEE_BPS } from '../sensors/constants.ts';
import { signSensorMessage } from '../sensors/identity/sensorMessages.ts';
import { datasetQueryHash, datasetQuerySchema } from '../sensors/protocol.ts';
import { splitExact } from '../sensors/rewards/splitExact.ts';
import { CHAIN_ID, client, clientKey, SETTLEMENT } from './factsFixture.ts';
import type { EpochClaim } from './verifyEpoch.ts';

export const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };

/**
 * `epoch`'s bundle over `f` and `i` (renumbered) and the claim its `computeEpoch` makes.
 *
 * @example const e3 = bundleOf(facts, inputs, 3, zeroHash);
 */
export function bundleOf(
  f: EpochFacts,
  i: EpochInputs,
  epoch: number,
  prevHash: Hex,
  version = EVIDENCE_VERSION,
) {
  const inputs = { ...i, epoch };
  const b = encodeEvidence({ version, epoch, ...target, prevHash, inputs, facts: f });
  const o = computeEpoch(inputs, b.hash);
  const payload = JSON.parse(
    JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  );
  const leaves = (
    JSON.parse(o.tree ?? '{"values":[]}') as { values: { value: [string, string] }[] }
  ).values.map((v) => ({ account: v.value[0], cumulativeAmount: v.value[1] }));
  return { ...b, claim: { epoch, payload, leaves } as EpochClaim };
}

/** Two data owners a sale pays. */
const owners = [`0x${'a1'.repeat(20)}`, `0x${'b2'.repeat(20)}`] as const;

/**
 * A dataset sale (7 readings × 1000) the fixture's client signed with nonce 3.
 *
 * @example const sale = await datasetSale();
 */
export async function datasetSale(): Promise<EntryFact> {
  const query = datasetQuerySchema.parse({ bbox: '0,0,10,10', from: 0, to: 1000, variables: 'pm25' });
  const issuedAt = 1_790_000_000;
  const signature = await signSensorMessage(clientKey, CHAIN_ID, 'DatasetRequest', {
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
      [owners[0], 4n],
      [owners[1], 3n],
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
      owners: { [owners[0]]: '4', [owners[1]]: '3' },
    },
  };
}

/**
 * An epoch (renumbered from the fixture's) whose only fact is `e`, with the balances it moves.
 *
 * @example const { f, i } = entryEpoch(inputs, facts, sale, 4);
 */
export function entryEpoch(
  inputs: EpochInputs,
  facts: EpochFacts,
  e: EntryFact,
  epoch: number,
  payer: Hex,
): { f: EpochFacts; i: EpochInputs } {
  const f: EpochFacts = { ...facts, jobs: [], charges: [], slashes: [], entries: [e] };
  const epochBalances = e.postings.map((p) => ({ account: p.account, balance: BigInt(p.amount) }));
  const lag = (epoch - 3) * 1000;
  const i: EpochInputs = {
    ...inputs,
    epoch,
    startsAt: 10_000 + lag,
    endsAt: 11_000 + lag,
    closedAt: 11_200 + lag,
    slashRequests: [],
    stakeHeld: [],
    faulted: [],
    tasksSettled: 0,
    unsettled: [{ client: payer, amount: BigInt(e.postings[0]!.amount), escrow: 10n ** 24n }],
    epochBalances,
    providerBalances: epochBalances.filter((b) => b.account.startsWith('provider:')),
  };
  return { f, i };
}
