/**
 * Validators against bundles an honest coordinator could send but the checks once mishandled
 * (second security review): a render spec leaving out schema defaults, and a reinstatement that
 * gives back more than the provider ever had.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochFacts, ReputationEntry } from '../src/coordinator/settlement/epochFacts.ts';
import { renderWorstUnits, rewardForUnits } from '../src/coordinator/verification/renderValue.ts';
import { checkAuditRates } from '../src/validator/checkAuditRates.ts';
import { ReputationReplay } from '../src/validator/reputationReplay.ts';

const p = `0x${'0a'.repeat(20)}` as const;
const renderJob = `0x${'2b'.repeat(32)}`;
const renderSpec = {
  kind: 'blender.render',
  inputs: Array.from({ length: 48 }, (_v, i) => `${i}`.padStart(64, '0')),
  taskTimeoutSec: 600,
  resources: { gpu: false },
  render: { width: 640, height: 480, tiles: { x: 4, y: 4 } },
};

test('a render spec that leaves out what the schema defaults (timeout, tiles) is checked with the defaults, never throws (second security review)', () => {
  const { taskTimeoutSec: _t, ...noTimeout } = renderSpec;
  const spec = { ...noTimeout, render: { width: 640, height: 480 } };
  const worst = renderWorstUnits(300, false); // the schema's default timeout
  const frame = `0xre${'66'.repeat(31)}`;
  const usage = { wallMs: 2_000, cpuMs: 2_000, peakRssBytes: 0 };
  const facts = {
    jobs: [{ jobId: renderJob, spec }],
    charges: [
      { taskId: frame, jobId: renderJob, result: { usage } },
      { taskId: frame, jobId: renderJob, result: { usage }, region: { pixels: 100 } },
      { taskId: `0xre${'77'.repeat(31)}`, jobId: renderJob, result: { usage } },
    ],
    draws: [
      {
        taskId: `0xre${'77'.repeat(31)}`,
        provider: p,
        epoch: 2,
        draw: 0.5,
        rate: 0.1,
        audited: false,
        otherOnline: true,
        basis: {
          at: 1,
          unitReward: '1000',
          valueUnits: worst.toString(),
          valueReward: rewardForUnits(1000n, worst).toString(),
          valueFrom: frame,
        },
      },
    ],
    reputation: [],
    slashes: [],
  } as unknown as EpochFacts;
  const replay = new ReputationReplay({ complete: false, seen: true, causesEpoch: 1 });
  assert.doesNotThrow(() => checkAuditRates(facts, replay, 2), 'no BigInt(NaN) from a left-out field');
  assert.equal(
    checkAuditRates(facts, replay, 2),
    null,
    'priced at the default timeout’s worst case: consistent',
  );
});

test('a reinstatement cannot hand a provider a longer run of valid results than the replay saw it have (second security review)', () => {
  const ally = `0x${'0b'.repeat(20)}`;
  const t0 = 1_800_000_000_000;
  const replay = new ReputationReplay({ complete: true, seen: true });
  const valid: ReputationEntry[] = Array.from({ length: 12 }, (_v, i) => ({
    provider: ally,
    kind: 'valid',
    at: t0 + i * 60_000,
  }));
  assert.equal(replay.add([...valid, { provider: ally, kind: 'fault', at: t0 + 20 * 60_000 }], 1), null);
  const reinstate = (consecutiveValid: number): ReputationEntry => ({
    provider: ally,
    kind: 'reinstate',
    at: t0 + 60 * 60_000,
    faultAt: t0 + 20 * 60_000,
    before: { ...replay.candidates(ally, t0 + 15 * 60_000)[0]!, consecutiveValid },
  });
  const honest = replay.clone();
  honest.add([reinstate(12)], 2);
  const forged = replay.clone();
  forged.add([reinstate(100_000)], 2);
  const at = t0 + 61 * 60_000;
  assert.equal(honest.candidates(ally, at)[0]!.consecutiveValid, 12, 'the run it had, given back');
  assert.equal(
    forged.candidates(ally, at)[0]!.consecutiveValid,
    12,
    'a forged run is capped at the one it had',
  );
});

test('a slash whose id is lower than one already seen is still checked against the journal (seen-set, not the highest id)', () => {
  const a = `0x${'0a'.repeat(20)}`;
  const b = `0x${'0b'.repeat(20)}`;
  const t0 = 1_800_000_000_000;
  const slash = (id: number, provider: string) => ({
    id,
    provider,
    taskId: `0x${String(id).padStart(64, '0')}`,
    amount: '5',
    kind: 'outvoted',
    evidence: {},
    signed: [],
  });
  const bundle = (reputation: ReputationEntry[], slashes: ReturnType<typeof slash>[]) =>
    ({ jobs: [], charges: [], draws: [], reputation, slashes }) as unknown as EpochFacts;
  const replay = new ReputationReplay({ complete: false, seen: true });
  assert.equal(checkAuditRates(bundle([{ provider: a, kind: 'valid', at: t0 }], []), replay, 1), null);
  assert.equal(
    checkAuditRates(bundle([{ provider: a, kind: 'fault', at: t0 + 1 }], [slash(5, a)]), replay, 2),
    null,
    "slash 5 matches A's fault",
  );
  // Slash 4, committed late (a lower id than 5, seen in the next bundle), for a provider with no
  // fault journaled: the highest-id rule skipped it.
  const kept = ReputationReplay.restore(JSON.parse(JSON.stringify(replay.meta())), []);
  const late = checkAuditRates(bundle([], [slash(4, b), slash(5, a)]), kept, 3);
  assert.equal(late?.fact, 'slash[4].reputation', 'checked, and refused: no fault for its provider');
  // A store from before the seen-set (only the highest id kept): the ids up to it count as seen.
  const old = new ReputationReplay({ complete: false, seen: true, startEpoch: 1, lastSlashId: 5 });
  assert.equal(checkAuditRates(bundle([], [slash(5, a)]), old, 3), null, 'slash 5 was seen');
  assert.equal(
    checkAuditRates(bundle([], [slash(5, a), slash(6, b)]), old, 4)?.fact,
    'slash[6].reputation',
    'a new one is checked',
  );
});
