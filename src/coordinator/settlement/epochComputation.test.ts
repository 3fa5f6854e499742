/**
 * The pure epoch computation against hand-computed figures: charges and bad debt, capped slashes,
 * emission with its rounding dust, the sensor emission's cap, the rewards tree over cumulative
 * earnings, the epoch's figures, the next base prices, and an empty epoch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, zeroHash } from 'viem';
import { MAX_EMISSION_PER_EPOCH } from '../../chain/constants.ts';
import type { HardwareClaim } from '../../protocol/schemas.ts';
import type { DeviceScore } from '../../sensors/scoring/scoreSensors.ts';
import { accounts } from '../ledger/accounts.ts';
import { rewardsOf } from '../ledger/rewardsTree.ts';
import {
  applyEntries,
  computeCharges,
  computeEpoch,
  computePrices,
  computeProviderEmission,
  computeSlashes,
  type EpochInputs,
  sessionEnd,
} from './epochComputation.ts';

const addr = (byte: string) => `0x${byte.repeat(20)}` as Address;
const [p1, p2, p3, p4] = ['a1', 'a2', 'a3', 'a4'].map(addr) as [Address, Address, Address, Address];
const [c1, c2, c3] = ['c1', 'c2', 'c3'].map(addr) as [Address, Address, Address];
const [o1, o2] = ['d1', 'd2'].map(addr) as [Address, Address];
const cpuBox: HardwareClaim = {
  cpuModel: 'x',
  cpuCores: 4,
  memoryBytes: 1,
  gpus: [],
  executionProviders: ['cpu'],
};
const gpuBox: HardwareClaim = {
  ...cpuBox,
  gpus: [{ name: 'RTX 4090', memoryMiB: 24_000 }],
  executionProviders: ['cuda', 'cpu'],
};
const proven = (gflops: number) => JSON.stringify({ proven: true, gflops });
const score = (owner: string, s: number): DeviceScore => ({
  device: `${owner}-dev`,
  owner,
  readings: 10,
  qualityScore: 1,
  spatialScore: 1,
  dataScore: s,
  locationScore: 1,
  score: s,
  flags: [],
  detail: {},
});

/** An epoch of 1,000 ms with nothing in it. */
const empty: EpochInputs = {
  epoch: 7,
  startsAt: 10_000,
  endsAt: 11_000,
  closedAt: 11_500,
  emissionPerEpoch: 100n,
  sensorEmissionPerEpoch: 100n,
  unsettled: [],
  slashRequests: [],
  stakeHeld: [],
  sessions: [],
  activeOnChain: [],
  faulted: [],
  providers: [],
  sensorScores: [],
  providerBalances: [],
  epochBalances: [],
  tasksSettled: 0,
  leases: [],
  prices: [{ class: 'cpu', basePrice: 8_000_000n }],
};

test('an empty epoch posts nothing, has the zero root, and lowers the price by the full step', () => {
  const out = computeEpoch(empty);
  assert.deepEqual(out.entries, []);
  assert.deepEqual(out.slashesApplied, []);
  assert.deepEqual(out.payload, {
    epoch: 7n,
    rewardsRoot: zeroHash,
    totalEarned: 0n,
    charges: [],
    slashes: [],
    emission: 0n,
    evidenceHash: zeroHash,
  });
  assert.equal(out.tree, null);
  assert.deepEqual(out.summary, {
    tasksSettled: 0,
    providerEarnings: '0',
    clientCharges: '0',
    protocolFees: '0',
    slashed: '0',
    emission: '0',
  });
  // Idle: 8,000,000 − 8,000,000/8.
  assert.deepEqual(out.prices, [
    { class: 'cpu', basePrice: 8_000_000n, utilization: 0, nextBasePrice: 7_000_000n },
  ]);
});

test('charges are capped at escrow; the shortfall is bad debt', () => {
  const { charges, entries } = computeCharges(7, [
    { client: c1, amount: 60n, escrow: 100n },
    { client: c2, amount: 10n, escrow: 4n },
    { client: c3, amount: 5n, escrow: 0n },
  ]);
  assert.deepEqual(charges, [
    { client: c1, amount: 60n },
    { client: c2, amount: 4n },
  ]);
  assert.deepEqual(
    entries.map((e) => [e.ref, e.kind, e.memo, e.postings.map((p) => `${p.account} ${p.amount}`)]),
    [
      [
        `epoch:7:charges:${c1}`,
        'settle-charges',
        undefined,
        ['chain:settlement 60', `client:${c1}:unsettled -60`],
      ],
      [
        `epoch:7:charges:${c2}`,
        'settle-charges',
        undefined,
        ['chain:settlement 4', `client:${c2}:unsettled -4`],
      ],
      [
        `epoch:7:bad-debt:${c2}`,
        'bad-debt',
        { escrow: '4' },
        [`client:${c2}:bad-debt 6`, `client:${c2}:unsettled -6`],
      ],
      [
        `epoch:7:bad-debt:${c3}`,
        'bad-debt',
        { escrow: '0' },
        [`client:${c3}:bad-debt 5`, `client:${c3}:unsettled -5`],
      ],
    ],
  );
});

test('slash requests add up per provider and are capped at the stake it holds; each request is applied', () => {
  const { slashes, entries, applied } = computeSlashes(
    7,
    [
      { id: 3, provider: p1.toUpperCase().replace('0X', '0x'), amount: 5n },
      { id: 4, provider: p1, amount: 7n },
      { id: 5, provider: p3, amount: 9n },
    ],
    [
      { provider: p1, held: 10n },
      { provider: p3, held: 0n },
    ],
  );
  assert.deepEqual(slashes, [{ provider: p1, amount: 10n }]);
  assert.deepEqual(applied, [3, 4, 5], 'all three applied (one capped at its stake)');
  assert.deepEqual(entries[0]?.memo, { requested: '12', slashIds: [3, 4] });
  assert.deepEqual(entries[0]?.postings, [
    { account: 'chain:settlement', amount: 10n },
    { account: `provider:${p1}:slashed`, amount: -10n },
  ]);
  assert.equal(entries.length, 1);
  assert.deepEqual(computeSlashes(7, [], []).applied, []);
});

/** p1 and p2 online all epoch with 1 and 2 GFLOP/s; p3 faulted; p4 not active on chain. */
const busy: EpochInputs = {
  ...empty,
  unsettled: [
    { client: c1, amount: 60n, escrow: 100n },
    { client: c2, amount: 10n, escrow: 4n },
  ],
  slashRequests: [{ id: 5, provider: p1, amount: 12n }],
  stakeHeld: [{ provider: p1, held: 10n }],
  sessions: [p1, p2, p3, p4].map((provider) => ({
    provider,
    slots: 1,
    connectedAt: 9_000,
    disconnectedAt: null,
  })),
  activeOnChain: [p1, p2, p3],
  faulted: [p3],
  providers: [
    { address: p1, region: 'eu', hardware: cpuBox, capability: proven(1) },
    { address: p2, region: 'eu', hardware: cpuBox, capability: proven(2) },
    { address: p3, region: 'us', hardware: cpuBox, capability: proven(5) },
    { address: p4, region: 'ap', hardware: cpuBox, capability: proven(5) },
  ],
  sensorScores: [score(o1, 0.5), score(o2, 1)],
  providerBalances: [{ account: accounts.providerEarnings(p2), balance: -50n }],
  epochBalances: [
    { account: accounts.clientUnsettled(c1), balance: 60n },
    { account: accounts.providerEarnings(p2), balance: -45n },
    { account: accounts.protocolFees, balance: -15n },
  ],
  tasksSettled: 3,
};

test('emission splits by capacity with its dust to the largest remainder; sensors share theirs; the tree is cumulative', () => {
  const out = computeEpoch(busy);
  assert.deepEqual(
    out.entries.map((e) => e.ref),
    [
      `epoch:7:charges:${c1}`,
      `epoch:7:charges:${c2}`,
      `epoch:7:bad-debt:${c2}`,
      `epoch:7:slash:${p1}`,
      'epoch:7:emission',
      'epoch:7:emission-shares',
      'epoch:7:sensor-emission',
      'epoch:7:sensor-emission-shares',
    ],
  );
  // 100 × 1/3 = 33.3 and 100 × 2/3 = 66.6: the one unit of dust goes to p2 (larger remainder).
  assert.deepEqual(out.entries[5]?.postings, [
    { account: 'protocol:emission', amount: 100n },
    { account: `provider:${p1}:earnings`, amount: -33n },
    { account: `provider:${p2}:earnings`, amount: -67n },
  ]);
  assert.equal(out.entries[5]?.memo, undefined);
  // Sensor owners by score 0.5 : 1 of 100: 33.3 and 66.6, the dust again to the larger remainder.
  assert.deepEqual(out.entries[6]?.memo, { sensor: true });
  assert.deepEqual(out.entries[7]?.memo, { sensor: true, devices: 2 });
  assert.deepEqual(out.entries[7]?.postings, [
    { account: 'protocol:emission', amount: 100n },
    { account: `provider:${o1}:earnings`, amount: -33n },
    { account: `provider:${o2}:earnings`, amount: -67n },
  ]);
  // Cumulative: p2 50 before + 67; then the accounts new to the ledger in posting order.
  const leaves = new Map([
    [p2, 117n],
    [p1, 33n],
    [o1, 33n],
    [o2, 67n],
  ]);
  const expected = rewardsOf(leaves);
  assert.deepEqual(out.payload, {
    epoch: 7n,
    rewardsRoot: expected.root,
    totalEarned: 250n,
    charges: [
      { client: c1, amount: 60n },
      { client: c2, amount: 4n },
    ],
    slashes: [{ provider: p1, amount: 10n }],
    emission: 200n,
    evidenceHash: zeroHash,
  });
  assert.equal(out.tree, expected.dump);
  assert.deepEqual(out.slashesApplied.at(-1), 5);
  assert.deepEqual(out.summary, {
    tasksSettled: 3,
    providerEarnings: '245', // 45 billed + 100 emission + 100 sensor emission
    clientCharges: '64',
    protocolFees: '15',
    slashed: '10',
    emission: '200',
  });
  // Deterministic: the same inputs, the same outcome.
  assert.deepEqual(computeEpoch(structuredClone(busy)), out);
});

test('the provider emission is capped at the token limit and leaves the sensors nothing', () => {
  const out = computeEpoch({ ...busy, emissionPerEpoch: MAX_EMISSION_PER_EPOCH + 1n });
  assert.equal(out.payload.emission, MAX_EMISSION_PER_EPOCH);
  assert.equal(
    out.entries.some((e) => e.ref.includes('sensor')),
    false,
  );
  // 5e22 × 1/3 leaves a remainder of 2/3, 5e22 × 2/3 one of 1/3: this time p1 gets the unit of dust.
  const shares = out.entries.find((e) => e.ref === 'epoch:7:emission-shares')!.postings;
  assert.equal(shares[1]!.amount, -16_666_666_666_666_666_666_667n);
  assert.equal(shares[2]!.amount, -33_333_333_333_333_333_333_333n);
});

test('utilization per class: busy lease time over connected slot time, GPU leases in the GPU class', () => {
  const prices = computePrices({
    startsAt: 10_000,
    endsAt: 11_000,
    closedAt: 11_500,
    providers: [
      { address: p1, region: 'eu', hardware: gpuBox, capability: null },
      { address: p2, region: 'eu', hardware: cpuBox, capability: null },
    ],
    // p1: 2 slots all epoch (2,000 slot-ms of cpu and of gpu); p2: 1 slot for half (500).
    sessions: [
      { provider: p1, slots: 2, connectedAt: 9_000, disconnectedAt: null },
      { provider: p2, slots: 1, connectedAt: 10_500, disconnectedAt: 12_000 },
    ],
    leases: [
      { provider: p1, createdAt: 10_200, finishedAt: 10_700, gpu: true }, // gpu 500
      { provider: p1, createdAt: 10_900, finishedAt: null, gpu: false }, // cpu 100 (to the epoch's end)
      { provider: p2, createdAt: 9_000, finishedAt: 10_150, gpu: true }, // no GPU there: cpu 150
      { provider: p2, createdAt: 10_500, finishedAt: 10_750, gpu: false }, // cpu 250
    ],
    prices: [
      { class: 'cpu', basePrice: 8_000_000n },
      { class: 'gpu:rtx-4090', basePrice: 16_000_000n },
    ],
  });
  // cpu: 500 / 2,500 = 0.2 → 8e6 × (0.2 − 0.5) / (0.5 × 8) = −600,000.
  // gpu: 500 / 2,000 = 0.25 → 16e6 × (0.25 − 0.5) / 4 = −1,000,000.
  assert.deepEqual(prices, [
    { class: 'cpu', basePrice: 8_000_000n, utilization: 0.2, nextBasePrice: 7_400_000n },
    { class: 'gpu:rtx-4090', basePrice: 16_000_000n, utilization: 0.25, nextBasePrice: 15_000_000n },
  ]);
});

test('applied entries keep the ledger order: known accounts first, new ones in posting order', () => {
  const after = applyEntries(
    [{ account: 'b', balance: 1n }],
    [
      {
        ref: 'x',
        kind: 'emission',
        epoch: 1,
        postings: [
          { account: 'c', amount: 2n },
          { account: 'b', amount: -3n },
          { account: 'a', amount: 1n },
        ],
      },
    ],
  );
  assert.deepEqual(
    [...after],
    [
      ['b', -2n],
      ['c', 2n],
      ['a', 1n],
    ],
  );
});

test('uptime is the union of a provider’s sessions: two open at once count once', () => {
  const session = (provider: Address, connectedAt: number, disconnectedAt: number | null) => ({
    provider,
    slots: 1,
    connectedAt,
    disconnectedAt,
  });
  const base = {
    ...empty,
    activeOnChain: [p1, p2],
    providers: [
      { address: p1, region: 'eu', hardware: cpuBox, capability: proven(1) },
      { address: p2, region: 'eu', hardware: cpuBox, capability: proven(1) },
    ],
  };
  // p1 online the first half of the epoch on two overlapping sessions (a racing reconnect), p2 the
  // whole epoch: p2 gets two thirds, as if p1 had one session.
  const { shares } = computeProviderEmission({
    ...base,
    sessions: [session(p1, 9_000, 10_500), session(p1, 10_200, 10_500), session(p2, 9_000, null)],
  });
  const single = computeProviderEmission({
    ...base,
    sessions: [session(p1, 9_000, 10_500), session(p2, 9_000, null)],
  }).shares;
  assert.deepEqual(shares, single);
  assert.deepEqual([shares.get(p1), shares.get(p2)], [33n, 67n], 'a third and two thirds of 100, dust to p2');
});

test('a session stops counting when its provider drains: no emission, no capacity for refusing work (review p9)', () => {
  const base = {
    ...empty,
    activeOnChain: [p1, p2],
    providers: [
      { address: p1, region: 'eu', hardware: cpuBox, capability: proven(1) },
      { address: p2, region: 'eu', hardware: cpuBox, capability: proven(1) },
    ],
  };
  const whole = (provider: Address) => ({ provider, slots: 1, connectedAt: 9_000, disconnectedAt: null });
  // Both connected the whole epoch; p1 drained at once (it took no work), p2 worked.
  const drained = { ...whole(p1), drainingAt: 9_500 };
  const { shares } = computeProviderEmission({ ...base, sessions: [drained, whole(p2)] });
  assert.equal(shares.get(p1), undefined, 'drained before the epoch: no uptime, no emission');
  assert.equal(shares.get(p2), 100n, 'the working provider gets it all');
  // Draining half-way through counts the half before it.
  const half = computeProviderEmission({
    ...base,
    sessions: [{ ...whole(p1), drainingAt: 10_500 }, whole(p2)],
  }).shares;
  assert.deepEqual([half.get(p1), half.get(p2)], [33n, 67n], 'half the uptime, a third of 100');
  assert.equal(sessionEnd(drained, 11_500), 9_500);
  assert.equal(sessionEnd(whole(p2), 11_500), 11_500);
  // Capacity: the drained provider's slot is not offered, so one busy slot is full utilization.
  const lease = { provider: p2, createdAt: 10_000, finishedAt: 11_000, gpu: false };
  const [cpu] = computePrices({ ...base, sessions: [drained, whole(p2)], leases: [lease] });
  assert.equal(cpu?.utilization, 1, 'the drainer offers no capacity');
});
