/**
 * Version-4 bundles (compactBundle.ts): real signed facts and inputs of every kind round-trip
 * exactly through encodeEvidence / decodeEvidence (every signature kept, task ids recomputed from
 * their jobs, revealed draws by reference), awkward strings survive, a malformed bundle is refused,
 * and the same epoch takes less room than in version 3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address } from 'viem';
import { taskIdOf } from '../../protocol/ids.ts';
import { honestEpoch, SETTLEMENT } from '../../validator/factsFixture.ts';
import { packString, unpackString } from './compactFacts.ts';
import type { EpochInputs } from './epochComputation.ts';
import type { EpochFacts } from './epochFacts.ts';
import { decodeEvidence, encodeEvidence, GENESIS_EVIDENCE_HASH } from './evidence.ts';

/** The honest fixture made busy: a derived task id run twice, draws, a reveal, leases, sessions. */
async function busyEpoch(): Promise<{ inputs: EpochInputs; facts: EpochFacts }> {
  const { inputs, facts } = await honestEpoch();
  const c = facts.charges[0]!;
  const derived = taskIdOf(c.jobId, 0);
  const audit = {
    ...c,
    taskId: derived,
    assignmentId: `0x${'a3'.repeat(32)}` as const,
    ref: `exec:0x${'a3'.repeat(32)}`,
  };
  facts.charges.push({ ...audit, taskId: derived });
  const economics = { reward: '100', honestCost: '80', slashable: '2000' };
  facts.draws = [
    {
      taskId: derived,
      provider: c.provider,
      epoch: 3,
      rate: 1,
      draw: 0.25,
      audited: true,
      otherOnline: true,
      economics,
    },
    {
      taskId: c.taskId,
      provider: c.provider,
      epoch: 3,
      rate: 0.05,
      draw: 0.7,
      audited: false,
      otherOnline: true,
      economics,
    },
  ];
  facts.audits.reveals = [
    {
      epoch: 3,
      seed: 'ab'.repeat(32),
      // One draw also published above (written by reference), one only here (written out).
      draws: [
        facts.draws[1]!,
        {
          taskId: `0x${'99'.repeat(32)}`,
          provider: c.provider,
          epoch: 3,
          rate: 0.04,
          draw: 0.9,
          audited: false,
          otherOnline: false,
        },
      ],
    },
  ];
  facts.canaries = [];
  facts.sensorBatches = [];
  const p = c.provider.toLowerCase();
  inputs.sessions = [
    { provider: p, slots: 4, connectedAt: 9_000, disconnectedAt: null, drainingAt: 10_700 },
    { provider: p, slots: 4, connectedAt: 8_000, disconnectedAt: 10_050 },
  ];
  inputs.leases = [
    { provider: p, createdAt: 10_100, finishedAt: 10_600, gpu: false },
    { provider: c.provider as Address, createdAt: 10_900, finishedAt: null, gpu: true },
  ];
  inputs.activeOnChain = [p];
  inputs.providers = [
    {
      address: p,
      region: '@home',
      hardware: { cpuModel: '~x', cpuCores: 4, memoryBytes: 1, gpus: [], executionProviders: ['cpu'] },
      capability: JSON.stringify({ proven: true, gflops: 3.5 }),
    },
  ];
  // Accounts that look packed already, or start with the escape, stay as they are.
  inputs.epochBalances = [
    ...inputs.epochBalances,
    { account: 'odd:#1:name', balance: 0n },
    { account: '\\x', balance: 0n },
  ];
  return { inputs, facts };
}

const bundleOf = (inputs: EpochInputs, facts: EpochFacts, version: number) => ({
  version,
  epoch: 3,
  chainId: 31337,
  settlement: SETTLEMENT,
  prevHash: GENESIS_EVIDENCE_HASH,
  inputs,
  facts,
});

test('a version-4 bundle gives back exactly its inputs and facts, every signature kept, and is smaller', async () => {
  const { inputs, facts } = await busyEpoch();
  // A render region auditor's share (billing sized its charge by it) travels with its charge.
  facts.charges[1]!.region = { pixels: 192, taskPixels: 3072 };
  const v4 = encodeEvidence(bundleOf(inputs, facts, 4));
  const back = decodeEvidence(v4.text);
  assert.equal(back.hash, v4.hash);
  assert.deepEqual(back.bundle.inputs, inputs);
  assert.deepEqual(back.bundle.facts, JSON.parse(JSON.stringify(facts)));
  for (const c of facts.charges)
    assert.ok(v4.text.includes(packString(c.result.signature)), 'result signature kept');
  assert.ok(v4.text.includes(packString(facts.jobs[0]!.signature)), 'job signature kept');
  const raw = JSON.parse(v4.text) as {
    facts: { parties: string[]; audits: { reveals: { draws: unknown[] }[] } };
  };
  assert.ok(
    raw.facts.parties.some((s) => /^@\d+\.0$/.test(s)),
    'the derived task id is written as its job and input index',
  );
  assert.equal(
    typeof raw.facts.audits.reveals[0]!.draws[0],
    'number',
    'a revealed draw also published is a reference',
  );
  // Every content id stays a JSON string of its own, as the validator-read rule finds them
  // (src/coordinator/blobs/validatorReads.ts): the outputs, the model and the inputs.
  const found = new Set<string>();
  for (const m of v4.text.matchAll(/"(?:0x)?([0-9a-f]{64})"/g)) found.add(m[1]!);
  for (const m of v4.text.matchAll(/"([~!][A-Za-z0-9_-]{43})"/g))
    found.add(unpackString(m[1]!).replace(/^0x/, ''));
  const spec = facts.jobs[0]!.spec as { model: string; inputs: string[] };
  for (const cid of [spec.model, ...spec.inputs, ...facts.charges.map((c) => c.result.outputCid)])
    assert.ok(found.has(cid), `${cid} is readable by a validator`);
  const v3 = encodeEvidence(bundleOf(inputs, facts, 3));
  assert.deepEqual(decodeEvidence(v3.text).bundle.inputs, inputs, 'version 3 is still read');
  assert.ok(v4.text.length < v3.text.length * 0.8, `${v4.text.length} B vs ${v3.text.length} B in version 3`);
});

test('an empty epoch is small, and its lists come back empty', async () => {
  const { inputs, facts } = await honestEpoch();
  const empty: EpochInputs = {
    ...inputs,
    unsettled: [],
    slashRequests: [],
    stakeHeld: [],
    faulted: [],
    providerBalances: [],
    epochBalances: [],
    tasksSettled: 0,
  };
  const f: EpochFacts = {
    ...facts,
    jobs: [],
    charges: [],
    slashes: [],
    draws: [],
    canaries: [],
    sensorBatches: [],
  };
  const v4 = encodeEvidence(bundleOf(empty, f, 4));
  assert.deepEqual(decodeEvidence(v4.text).bundle.facts, f);
  assert.deepEqual(decodeEvidence(v4.text).bundle.inputs, empty);
  assert.ok(
    v4.text.length < encodeEvidence(bundleOf(empty, f, 3)).text.length - 200,
    'v4.text.length < encodeEvidence(bundleOf(empty, f, 3)).text.length - 200',
  );
});

test('a malformed version-4 bundle is refused, not misread', async () => {
  const { inputs, facts } = await busyEpoch();
  const { text } = encodeEvidence(bundleOf(inputs, facts, 4));
  const raw = JSON.parse(text) as {
    facts: { charges: unknown[][]; parties: string[] };
    inputs: Record<string, unknown>;
  };
  const broken = (mutate: (r: typeof raw) => void) => {
    const r = JSON.parse(text) as typeof raw;
    mutate(r);
    return JSON.stringify(r);
  };
  const { canonicalJson } = await import('./evidence.ts');
  const canon = (s: string) => canonicalJson(JSON.parse(s));
  assert.throws(() => decodeEvidence(canon(broken((r) => (r.facts.charges[0]![2] = 99)))), /no party 99/);
  assert.throws(
    () => decodeEvidence(canon(broken((r) => (r.facts.parties[0] = '@7.0')))),
    /names no earlier job/,
  );
  assert.throws(() => decodeEvidence(canon(broken((r) => (r.inputs.leases = 'x')))), /not a list/);
  assert.equal(raw.facts.charges.length, 2);
});

test('a version-5 bundle gives back exactly its inputs and facts and is smaller than version 4', async () => {
  const { inputs, facts } = await busyEpoch();
  // Two providers on one build (one hardware claim), agreeing executions (one output cid), one price.
  inputs.providers.push({ ...inputs.providers[0]!, address: `0x${'77'.repeat(20)}` });
  facts.reputation = [
    { provider: facts.charges[0]!.provider, kind: 'agreed', at: inputs.startsAt + 1_234 },
    { provider: facts.charges[0]!.provider, kind: 'timeout', at: inputs.startsAt - 5 },
  ];
  // The lease times billing was capped at (review p9), one charge with a region share too.
  facts.charges[0]!.leaseMs = 480;
  facts.charges[1]!.leaseMs = 0;
  facts.charges[1]!.region = { pixels: 192, taskPixels: 3072 };
  facts.charges[1]!.sizeCapMilli = '9000'; // the size cap fixed at lease time (0063)
  facts.draws![0]!.basis = { at: inputs.startsAt + 900, unitReward: '100000000000000' };
  facts.draws![1]!.basis = {
    at: inputs.startsAt + 950,
    unitReward: '100000000000000',
    valueReward: '7',
    valueUnits: '7000',
    valueFrom: facts.draws![0]!.taskId as `0x${string}`,
  };
  const v5 = encodeEvidence(bundleOf(inputs, facts, 5));
  const back = decodeEvidence(v5.text);
  assert.equal(back.hash, v5.hash);
  assert.deepEqual(back.bundle.inputs, inputs);
  assert.deepEqual(back.bundle.facts, JSON.parse(JSON.stringify(facts)));
  for (const c of facts.charges)
    assert.ok(v5.text.includes(packString(c.result.signature)), 'result signature kept');
  const raw = JSON.parse(v5.text) as { inputs: { hardware: unknown[] }; facts: { amounts: string[] } };
  assert.equal(raw.inputs.hardware.length, 1, 'one hardware claim written once');
  assert.deepEqual(
    back.bundle.facts.charges.map((c) => [c.leaseMs, c.region?.pixels, c.sizeCapMilli]),
    [
      [480, undefined, undefined],
      [0, 192, '9000'],
    ],
    'lease times, region shares and size caps come back on their charges',
  );
  assert.ok(raw.facts.amounts.includes('100000000000000'), 'the unit reward is in the amounts table');
  // Every content id is still a JSON string of its own (the validator-read rule).
  const found = new Set<string>();
  for (const m of v5.text.matchAll(/"([~!][A-Za-z0-9_-]{43})"/g))
    found.add(unpackString(m[1]!).replace(/^0x/, ''));
  for (const c of facts.charges)
    assert.ok(found.has(c.result.outputCid), `${c.result.outputCid} is readable`);
  const v4 = encodeEvidence(bundleOf(inputs, facts, 4));
  const four = decodeEvidence(v4.text).bundle.facts;
  // Version 4 has no place for a render value's size and frame (version 5 adds them); the rest is the same.
  assert.deepEqual(
    { charges: four.charges, reputation: four.reputation, jobs: four.jobs },
    {
      charges: back.bundle.facts.charges,
      reputation: back.bundle.facts.reputation,
      jobs: back.bundle.facts.jobs,
    },
    'version 4 says the same',
  );
  assert.ok(v5.text.length < v4.text.length - 100, `${v5.text.length} B vs ${v4.text.length} B in version 4`);
});

test('a malformed version-5 bundle is refused, not misread', async () => {
  const { inputs, facts } = await busyEpoch();
  const { text } = encodeEvidence(bundleOf(inputs, facts, 5));
  const { canonicalJson } = await import('./evidence.ts');
  const broken = (
    mutate: (r: { facts: Record<string, unknown[]>; inputs: Record<string, unknown[]> }) => void,
  ) => {
    const r = JSON.parse(text);
    mutate(r);
    return canonicalJson(r);
  };
  assert.throws(
    () => decodeEvidence(broken((r) => ((r.facts.charges![0] as unknown[])[6] = 9))),
    /no amount 9/,
  );
  assert.throws(
    () => decodeEvidence(broken((r) => ((r.facts.charges![0] as unknown[])[7] = 99))),
    /no party 99/,
  );
  assert.throws(
    () => decodeEvidence(broken((r) => ((r.inputs.providers![0] as unknown[])[2] = 3))),
    /no hardware 3/,
  );
  // The same facts written the version-4 way under version 5 are not its canonical packing.
  const v4 = JSON.parse(encodeEvidence(bundleOf(inputs, facts, 4)).text);
  assert.throws(() => decodeEvidence(canonicalJson({ ...v4, version: 5 })), /evidence/);
});
