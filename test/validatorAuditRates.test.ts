/**
 * Audit rates recomputed by validators from the replayed reputation journal
 * (src/validator/checkAuditRates.ts, reputationReplay.ts; docs/validators.md "Audit rates and
 * reputation"). In process, on the coordinator's own code: its reputation changes (`recordOutcome`,
 * which writes the journal), its rates (`AdaptiveAuditPolicy` via the work loop, and
 * `sampledRenderDecision` for render jobs) and its journal read (`readReputationJournal`, each
 * change reported once). Its honest draws pass; a rate computed with a reputation from before a
 * fault, without the value floor, with another unit reward, a render value reward out of range, a
 * draw without its basis and a late `state` entry are each refused with the fact named. The
 * journal and the draws' basis survive the version-5 bundle.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billedUnitsMilli } from '../src/coordinator/market/priceExecution.ts';
import { computeEpoch } from '../src/coordinator/settlement/epochComputation.ts';
import type { AuditDraw, EpochFacts, ReputationEntry } from '../src/coordinator/settlement/epochFacts.ts';
import { decodeEvidence, EVIDENCE_VERSION, encodeEvidence } from '../src/coordinator/settlement/evidence.ts';
import { readReputationJournal } from '../src/coordinator/settlement/readRandomFacts.ts';
import { auditRate, economicAuditBound } from '../src/coordinator/verification/auditPolicy.ts';
import { SLASH_REWARD_MULTIPLE } from '../src/coordinator/verification/constants.ts';
import { drawRate } from '../src/coordinator/verification/drawRate.ts';
import { renderFrameUnits, rewardForUnits } from '../src/coordinator/verification/renderValue.ts';
import {
  newReputation,
  type ReputationState,
  reinstateReputation,
  updateReputation,
} from '../src/coordinator/verification/reputation.ts';
import { recordOutcome } from '../src/coordinator/work/faults.ts';
import { sampledRenderDecision } from '../src/coordinator/work/renderAudits.ts';
import { workFixture } from '../src/coordinator/work/workFixture.ts';
import { checkAuditRates } from '../src/validator/checkAuditRates.ts';
import { CHAIN_ID, honestEpoch, SETTLEMENT } from '../src/validator/factsFixture.ts';
import { ReputationReplay } from '../src/validator/reputationReplay.ts';
import { openValidatorStore } from '../src/validator/validatorStore.ts';
import { type EpochClaim, verifyEpoch } from '../src/validator/verifyEpoch.ts';

const p = `0x${'0a'.repeat(20)}` as const;
const inferJob = `0x${'1a'.repeat(32)}`;
const renderJob = `0x${'2b'.repeat(32)}`;
const renderSpec = {
  kind: 'blender.render',
  inputs: Array.from({ length: 48 }, (_v, i) => `${i}`.padStart(64, '0')),
  taskTimeoutSec: 600,
  resources: { gpu: false },
  render: { width: 640, height: 480, tiles: { x: 4, y: 4 } },
};

/** The facts of one bundle: the jobs, one charge per drawn task (task → job), draws and journal. */
function factsOf(draws: AuditDraw[], reputation: ReputationEntry[]): EpochFacts {
  return {
    jobs: [
      { jobId: inferJob, spec: { kind: 'onnx.infer', inputs: ['00'], taskTimeoutSec: 60 } },
      { jobId: renderJob, spec: renderSpec },
    ],
    charges: draws.map((d) => ({
      taskId: d.taskId,
      jobId: d.taskId.startsWith('0xre') ? renderJob : inferJob,
    })),
    draws,
    ...(reputation.length ? { reputation } : {}),
  } as unknown as EpochFacts;
}

/** A task's economics as taskEconomics.ts derives them from one size (`unitsMilli`). */
function econFor(unitReward: bigint, unitsMilli: bigint) {
  const reward = rewardForUnits(unitReward, unitsMilli);
  return {
    reward,
    honestCost: rewardForUnits(unitReward / 2n, unitsMilli),
    slashable: reward * SLASH_REWARD_MULTIPLE,
  };
}

/**
 * A provider's history on the coordinator (real work loop, in-memory store): verified outcomes and
 * a fault at known times, with the coordinator's own draws in between; returns its journal read
 * for a bundle and the draws.
 */
async function coordinatorHistory() {
  const f = await workFixture();
  const econ0 = econFor(f.state.econ.reward, 1000n);
  const draws: AuditDraw[] = [];
  let n = 0;
  const draw = (render?: { valueReward: bigint }, valuable = false) => {
    const taskId = `0x${render ? 're' : 'ab'}${(n++).toString(16).padStart(62, '0')}`;
    const at = f.work.now();
    // A valuable task (60 units' pay): its value floor, earned down by the record, sets the rate.
    const econ = valuable ? econFor(f.state.econ.reward, 60_000n) : econ0;
    let decision = f.work.audits.shouldAudit(p, { taskId, ...econ });
    if (render) decision = sampledRenderDecision(f.state, f.work, p, 48, decision, render.valueReward);
    draws.push({
      taskId,
      provider: p,
      epoch: 1,
      rate: decision.rate,
      draw: decision.draw,
      audited: decision.audit,
      otherOnline: true,
      economics: {
        reward: econ.reward.toString(),
        honestCost: econ.honestCost.toString(),
        slashable: econ.slashable.toString(),
      },
      basis: {
        at,
        unitReward: f.state.econ.reward.toString(),
        ...(render ? { valueReward: render.valueReward.toString() } : {}),
      },
    });
  };
  // A timeout goes with its cause (checkTimeouts.ts): here a canary lease that ran out just now.
  const outcome = (o: 'valid' | 'agreed' | 'fault' | 'timeout') =>
    f.db.transaction().execute((trx) => {
      const t = f.work.now();
      const lease = `0x${'ce'.repeat(32)}` as const;
      const cause = {
        canary: lease,
        task: lease,
        leasedAt: t - 60_000,
        expiresAt: t,
        endedAt: t,
        code: 'PLX_LEASE_EXPIRED' as const,
      };
      return recordOutcome(f.state, f.work, trx, p, o, o === 'timeout' ? cause : undefined);
    });
  try {
    draw(); // a newcomer
    for (let i = 0; i < 12; i++) {
      f.clock.t += 90_000;
      await outcome(i % 3 === 0 ? 'agreed' : 'valid');
      if (i % 4 === 3) draw();
    }
    draw({ valueReward: f.state.econ.reward * 3n }); // a clean record: the job's sample
    draw(undefined, true);
    f.clock.t += 3_600_000;
    draw(); // decayed
    await outcome('timeout');
    const beforeFault = f.work.now();
    f.clock.t += 1_000;
    await outcome('fault');
    const faultAt = f.work.now();
    f.clock.t += 120_000;
    draw(); // after the fault: audited more
    draw({ valueReward: f.state.econ.reward * 3n });
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 1));
    const again = await f.db.transaction().execute((trx) => readReputationJournal(trx, 2));
    return { journal, again, draws, unitReward: f.state.econ.reward, beforeFault, faultAt };
  } finally {
    await f.close();
  }
}

const history = await coordinatorHistory();
const fresh = () => new ReputationReplay({ complete: true, seen: true });

test("the coordinator's journal reports each change once, and its own draws recompute exactly", () => {
  assert.equal(history.journal.length, 14, '12 outcomes, a timeout and a fault');
  assert.deepEqual(history.again, [], 'reported once');
  assert.deepEqual(history.journal.map((e) => e.kind).slice(-2), ['timeout', 'fault']);
  assert.equal(checkAuditRates(factsOf(history.draws, history.journal), fresh(), 1), null);
  const valuable = history.draws.find((d) => d.economics?.reward === (history.unitReward * 60n).toString());
  assert.ok(valuable && valuable.rate > 0.04 && valuable.rate < 1, 'the value floor, earned down, sets it');
  const rates = new Set(history.draws.map((d) => d.rate));
  assert.ok(rates.size >= 4, 'the draws span several rates (newcomer, record, sample, after a fault)');
});

test('a rate computed with the reputation from before a fault is refused once the fault is older than the tolerance', () => {
  const replay = fresh();
  assert.equal(replay.add(history.journal, 1), null);
  const [before] = replay.candidates(p, history.beforeFault);
  const [after] = replay.candidates(p, history.faultAt);
  assert.equal(after?.faults, 1);
  const last = history.draws.at(-2)!; // the inference draw after the fault
  const econ = {
    reward: BigInt(last.economics!.reward),
    honestCost: BigInt(last.economics!.honestCost),
    slashable: BigInt(last.economics!.slashable),
  };
  const lowered = drawRate({ reputation: before!, economics: econ, unitReward: history.unitReward });
  assert.ok(lowered < last.rate, 'the fault raised the rate');
  const forged = { ...last, rate: lowered };
  const draws = [...history.draws.slice(0, -2), forged];
  const d = checkAuditRates(factsOf(draws, history.journal), fresh(), 1);
  assert.equal(d?.fact, `audit[${last.taskId}:${p}].rate`);
  assert.equal(d?.claimed, String(lowered));
  assert.match(d?.recomputed ?? '', new RegExp(`^${last.rate} \\(its reputation replayed to`));
  // Within the tolerance after the fault (a replica's cached reputation), the older state is accepted.
  const soon = { ...forged, basis: { ...forged.basis!, at: history.faultAt + 30_000 } };
  assert.equal(checkAuditRates(factsOf([soon], history.journal), fresh(), 1), null);
  // A validator that did not follow the journal from the network's first bundle cannot tell.
  const partial = new ReputationReplay({ complete: false, seen: true });
  assert.equal(checkAuditRates(factsOf(draws, history.journal), partial, 1), null);
});

test('the value floor: left out, priced in another unit, or from a render value out of range, is refused', () => {
  // A task paying 60 units is always audited (value floor 1) for a newcomer; without the value floor
  // its rate would be the adaptive one alone.
  const econ = econFor(history.unitReward, 60_000n);
  const economics = {
    reward: econ.reward.toString(),
    honestCost: econ.honestCost.toString(),
    slashable: econ.slashable.toString(),
  };
  const replay = fresh();
  replay.add(history.journal, 1);
  const [rep] = replay.candidates(p, history.faultAt - 2_000);
  const at = history.faultAt - 2_000;
  const withFloor = drawRate({ reputation: rep!, economics: econ, unitReward: history.unitReward });
  const without = auditRate({
    reputation: rep!,
    bound: economicAuditBound({ cost: econ.honestCost, reward: econ.reward, slashable: econ.slashable }),
  });
  assert.ok(without < withFloor, 'the value floor raises this rate');
  const base = {
    taskId: `0xab${'77'.repeat(31)}`,
    provider: p,
    epoch: 1,
    draw: 0.99,
    audited: false,
    otherOnline: true,
    economics,
    basis: { at, unitReward: history.unitReward.toString() },
  };
  assert.equal(checkAuditRates(factsOf([{ ...base, rate: withFloor }], history.journal), fresh(), 1), null);
  const left = checkAuditRates(factsOf([{ ...base, rate: without }], history.journal), fresh(), 1);
  assert.equal(left?.fact, `audit[${base.taskId}:${p}].rate`);

  // R raised tenfold for one draw makes its value floor ten times lower: another unit than the network's.
  const tenfold = (history.unitReward * 10n).toString();
  const d = checkAuditRates(
    factsOf(
      [history.draws[0]!, { ...base, rate: withFloor, basis: { at, unitReward: tenfold } }],
      history.journal,
    ),
    fresh(),
    1,
  );
  assert.equal(d?.fact, `audit[${base.taskId}:${p}].unitReward`);
  assert.equal(d?.recomputed, history.unitReward.toString());

  // A render draw's value reward: under one unit, over the job's worst case, or missing.
  const renderDraw = history.draws.find((x) => x.basis?.valueReward !== undefined)!;
  for (const valueReward of ['1', (history.unitReward * 10_000n).toString(), undefined]) {
    const basis = { at: renderDraw.basis!.at, unitReward: renderDraw.basis!.unitReward };
    const bad = { ...renderDraw, basis: valueReward === undefined ? basis : { ...basis, valueReward } };
    const dispute = checkAuditRates(factsOf([bad], history.journal), fresh(), 1);
    assert.equal(
      dispute?.fact,
      `audit[${renderDraw.taskId}:${p}].valueReward`,
      `value reward ${valueReward}`,
    );
  }
});

test('a render value reward is re-derived from the size and frame it was priced from', () => {
  const R = history.unitReward;
  const worst = billedUnitsMilli(
    'cpu',
    { wallMs: 600_000, cpuMs: Number.MAX_SAFE_INTEGER, peakRssBytes: 0 },
    600,
  );
  const renderDraw = history.draws.find((x) => x.basis?.valueReward !== undefined)!;
  const frame = `0xre${'f0'.repeat(31)}`;
  const usage = { wallMs: 200_000, cpuMs: 390_000, peakRssBytes: 0 };
  const regionUsage = { wallMs: 20_000, cpuMs: 30_000, peakRssBytes: 0 };
  const taskPixels = (640 * 480) / 16;
  // The frame's size as the coordinator measures it: the largest of its agreeing executions, the
  // region auditor's (1/16 of the task) scaled up.
  const frameUnits = renderFrameUnits(
    [
      { unitsMilli: billedUnitsMilli('cpu', usage, 600) },
      { unitsMilli: billedUnitsMilli('cpu', regionUsage, 600), regionPixels: taskPixels / 16 },
    ],
    taskPixels,
    worst,
  )!;
  const check = (basis: Record<string, unknown>, withFrame = false, epoch = 1, causesEpoch?: number) => {
    const draw = {
      ...renderDraw,
      epoch,
      basis: { at: renderDraw.basis!.at, unitReward: R.toString(), ...basis },
    };
    const facts = factsOf([draw as AuditDraw], []);
    if (withFrame)
      facts.charges.push(
        { taskId: frame, jobId: renderJob, result: { usage } } as never,
        {
          taskId: frame,
          jobId: renderJob,
          result: { usage: regionUsage },
          region: { pixels: taskPixels / 16 },
        } as never,
      );
    // Rates are not recomputed here (a partial replay): the value reward alone is under test.
    const replay = new ReputationReplay({
      complete: false,
      seen: true,
      ...(causesEpoch ? { causesEpoch } : {}),
    });
    return checkAuditRates(facts, replay, epoch)?.fact ?? null;
  };
  const name = `audit[${renderDraw.taskId}:${p}]`;
  const priced = (units: bigint, from?: string) => ({
    valueReward: rewardForUnits(R, units).toString(),
    valueUnits: units.toString(),
    ...(from ? { valueFrom: from } : {}),
  });
  assert.equal(check(priced(worst)), null, 'no verified frame: the worst case');
  assert.equal(check(priced(frameUnits, frame), true), null, 'priced from a verified frame paid here');
  assert.ok(frameUnits < worst, 'the frame is smaller than the worst case');
  assert.equal(
    check({ ...priced(worst), valueReward: (rewardForUnits(R, worst) - 1n).toString() }),
    `${name}.valueReward`,
    'a value reward that is not rewardForUnits of its size',
  );
  assert.equal(
    check(priced(frameUnits)),
    `${name}.valueUnits`,
    'smaller than the worst case with no frame named',
  );
  assert.match(check(priced(worst + 1n, frame)) ?? '', /\.value(Units|Reward)$/, 'over the worst case');
  assert.equal(
    check(priced(frameUnits / 2n, frame), true),
    `${name}.valueUnits`,
    'a frame named and priced smaller than its paid executions measured',
  );
  // From the first bundle with timeout causes on (the same upgrade), a later draw must say its size.
  const old = { valueReward: rewardForUnits(R, worst).toString() };
  assert.equal(check(old, false, 3, 2), `${name}.valueUnits`, 'a later draw without its size');
  assert.equal(check(old, false, 2, 2), null, 'a draw of that first bundle may predate it');
});

test('after the journal started, a draw without its basis and a late state entry are refused', () => {
  const replay = fresh();
  assert.equal(checkAuditRates(factsOf([], history.journal), replay, 1), null);
  const { basis: _b, ...bare } = history.draws[1]!;
  const later = { ...bare, epoch: 2 };
  assert.equal(
    checkAuditRates(factsOf([later], []), replay.clone(), 2)?.fact,
    `audit[${later.taskId}:${p}].basis`,
  );
  assert.equal(
    checkAuditRates(factsOf([{ ...bare, epoch: 1 }], []), replay.clone(), 2),
    null,
    'drawn before',
  );
  const state: ReputationEntry = { provider: p, kind: 'state', at: 1, state: newReputation(1) };
  assert.equal(checkAuditRates(factsOf([], [state]), replay.clone(), 2)?.fact, 'reputation[0].kind');
  assert.equal(checkAuditRates(factsOf([], [state]), fresh(), 1), null, 'where the journal starts');
  assert.equal(
    checkAuditRates(factsOf([], [{ provider: p, kind: 'lucky' as 'valid', at: 5 }]), fresh(), 1)?.fact,
    'reputation[0].kind',
  );
});

test('the replay: a late entry is placed in time order, reinstatements and states replay, the store rebuilds it', () => {
  const t0 = 1_700_000_000_000;
  const entries: ReputationEntry[] = [
    { provider: p, kind: 'valid', at: t0 },
    { provider: p, kind: 'valid', at: t0 + 2_000_000 },
  ];
  const r = fresh();
  r.add(entries, 1);
  // Committed late on a replica: a fault between the two, reported in the next bundle.
  r.add([{ provider: p, kind: 'fault', at: t0 + 1_000_000 }], 2);
  let want: ReputationState = updateReputation(newReputation(t0), 'valid', t0);
  want = updateReputation(want, 'fault', t0 + 1_000_000);
  const beforeFault = want;
  want = updateReputation(want, 'valid', t0 + 2_000_000);
  assert.deepEqual(r.candidates(p, t0 + 3_000_000, 0), [want]);
  assert.deepEqual(r.candidates(p, t0 + 2_000_000 + 10, 60_000).length, 2, 'the state just superseded too');
  assert.deepEqual(r.candidates(p, t0 - 1), [newReputation(t0 - 1)], 'a newcomer before its first entry');
  r.add([{ provider: p, kind: 'reinstate', at: t0 + 4_000_000, before: null, faultAt: t0 + 1_000_000 }], 3);
  assert.deepEqual(r.candidates(p, t0 + 5_000_000, 0), [
    reinstateReputation(want, undefined, t0 + 1_000_000, t0 + 4_000_000),
  ]);
  assert.ok(beforeFault.faults === 1, 'the late fault counted');

  const store = openValidatorStore(':memory:');
  store.keepReputation('net', 1, entries, r);
  store.keepReputation('net', 2, [{ provider: p, kind: 'fault', at: t0 + 1_000_000 }], r);
  store.keepReputation(
    'net',
    3,
    [{ provider: p, kind: 'reinstate', at: t0 + 4_000_000, before: null, faultAt: t0 + 1_000_000 }],
    r,
  );
  const back = store.reputation('net');
  assert.deepEqual(back.candidates(p, t0 + 5_000_000, 0), r.candidates(p, t0 + 5_000_000, 0));
  assert.deepEqual(back.meta(), r.meta());
  store.close();
});

test("the journal and the draws' basis survive the version-5 bundle; verifyEpoch applies the journal", async () => {
  const honest = await honestEpoch();
  const facts: EpochFacts = { ...honest.facts, reputation: history.journal };
  const rare: ReputationEntry[] = [
    {
      provider: p,
      kind: 'reinstate',
      at: 9,
      before: updateReputation(newReputation(1), 'valid', 2),
      faultAt: 5,
    },
    { provider: `0x${'0c'.repeat(20)}`, kind: 'reinstate', at: 9, before: null, faultAt: 5 },
    { provider: `0x${'0d'.repeat(20)}`, kind: 'state', at: 3, state: newReputation(3) },
  ];
  const { text } = encodeEvidence({
    version: EVIDENCE_VERSION,
    epoch: honest.inputs.epoch,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash: `0x${'00'.repeat(32)}`,
    inputs: honest.inputs,
    facts: { ...facts, draws: history.draws, reputation: [...history.journal, ...rare] },
  });
  const back = decodeEvidence(text).bundle.facts;
  assert.deepEqual(back.reputation, [...history.journal, ...rare]);
  assert.deepEqual(back.draws, history.draws);
  // Through verifyEpoch (no draws charged: the journal only), from the first bundle: complete.
  const { text: t2, hash } = encodeEvidence({
    version: EVIDENCE_VERSION,
    epoch: honest.inputs.epoch,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash: `0x${'00'.repeat(32)}`,
    inputs: honest.inputs,
    facts,
  });
  const o = computeEpoch(honest.inputs, hash);
  const payload = JSON.parse(
    JSON.stringify(o.payload, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)),
  ) as EpochClaim['payload'];
  const leaves = o.tree
    ? (JSON.parse(o.tree) as { values: { value: [string, string] }[] }).values.map((x) => ({
        account: x.value[0],
        cumulativeAmount: x.value[1],
      }))
    : [];
  const replay = new ReputationReplay({ complete: false });
  const v = await verifyEpoch({
    evidence: t2,
    claim: { epoch: honest.inputs.epoch, payload, leaves },
    target: { chainId: CHAIN_ID, settlement: SETTLEMENT },
    prevHash: null,
    reputation: replay,
  });
  assert.ok(v.ok, 'the honest epoch with its journal is signed');
  assert.equal(replay.seen, false, 'the replay given is not changed');
  assert.equal(v.reputation?.complete, true, 'from the first bundle: every reputation known');
  assert.equal(v.reputation?.candidates(p, history.faultAt)[0]?.faults, 1, 'the journal applied');
});

test('a compute slash needs a fault in the journal, of this bundle or an earlier one; a storage slash does not; each slash once', () => {
  const slash = (id: number, provider: string, taskId = `0x${'5e'.repeat(32)}`) =>
    ({ id, provider, taskId, amount: '1', kind: 'outvoted', evidence: {}, signed: [] }) as never;
  const withSlashes = (reputation: ReputationEntry[], slashes: never[]) => ({
    ...factsOf([], reputation),
    slashes,
  });
  const replay = fresh();
  // The first bundle with a journal: slashes pending from before it are not checked.
  assert.equal(checkAuditRates(withSlashes(history.journal, [slash(1, p)]), replay, 1), null);
  const fault: ReputationEntry = { provider: p, kind: 'fault', at: history.faultAt + 10_000 };
  assert.equal(checkAuditRates(withSlashes([fault], [slash(2, p)]), replay.clone(), 2), null);
  const other = `0x${'0e'.repeat(20)}`;
  const hidden = checkAuditRates(withSlashes([], [slash(2, other)]), replay.clone(), 2);
  assert.equal(hidden?.fact, 'slash[2].reputation', 'slashed, but the fault kept out of its reputation');
  assert.equal(
    checkAuditRates(withSlashes([fault], [slash(2, p), slash(3, other)]), replay.clone(), 2)?.fact,
    'slash[3].reputation',
    "another provider's fault does not count",
  );
  assert.equal(
    checkAuditRates(withSlashes([], [slash(4, p, `storage:${'ab'.repeat(32)}:7`)]), replay.clone(), 2),
    null,
    'a storage fault moves no reputation',
  );
  assert.equal(checkAuditRates(withSlashes([], [slash(1, p)]), replay.clone(), 2), null, 'seen before');
  // A slash created after its epoch's end is in the next bundle; its fault entry was in this one.
  const next = replay.clone();
  assert.equal(checkAuditRates(withSlashes([fault], []), next, 2), null);
  assert.equal(checkAuditRates(withSlashes([], [slash(5, p)]), next.clone(), 3), null);
  const store = openValidatorStore(':memory:');
  store.keepReputation('net', 2, [fault], next);
  assert.deepEqual(store.reputation('net').faultCredits, next.faultCredits, 'kept in the store');
  store.close();
  assert.equal(
    checkAuditRates(withSlashes([], [slash(5, p), slash(6, p), slash(7, p)]), next.clone(), 3)?.fact,
    'slash[7].reputation',
    'two faults journaled (bundles 1 and 2), two slashes matched',
  );
});

test('a fault in the journal needs its slash by its epoch’s end, or its reinstatement; each slash matches one fault', () => {
  const slash = (id: number, provider: string) =>
    ({
      id,
      provider,
      taskId: `0x${'5e'.repeat(32)}`,
      amount: '1',
      kind: 'outvoted',
      evidence: {},
      signed: [],
    }) as never;
  const bundle = (reputation: ReputationEntry[], slashes: never[]) => ({
    ...factsOf([], reputation),
    slashes,
  });
  const E1 = history.faultAt + 3_600_000;
  const E2 = E1 + 600_000;
  // From the first bundle with timeout causes (version 5) on; rates not recomputed (partial replay).
  const start = () => new ReputationReplay({ complete: false, seen: true, startEpoch: 1, causesEpoch: 2 });
  const fault = (at: number): ReputationEntry => ({ provider: p, kind: 'fault', at });
  const name = `reputation.fault[${p}]`;
  assert.equal(
    checkAuditRates(bundle([fault(E1 - 120_000)], [slash(9, p)]), start(), 2, E1),
    null,
    'slashed',
  );
  assert.equal(
    checkAuditRates(bundle([fault(E1 - 120_000)], []), start(), 2, E1)?.fact,
    name,
    'an invented fault: no slash by the end of its epoch',
  );
  // A fault just before the epoch's end (within the clock skew) may have its slash in the next bundle.
  const late = start();
  assert.equal(checkAuditRates(bundle([fault(E1 - 1_000)], []), late, 2, E1), null);
  assert.equal(
    checkAuditRates(bundle([], [slash(9, p)]), late.clone(), 3, E2),
    null,
    'slash in the next bundle',
  );
  assert.equal(checkAuditRates(bundle([], []), late.clone(), 3, E2)?.fact, name, 'and not in the next one');
  const reinstated: ReputationEntry = {
    provider: p,
    kind: 'reinstate',
    at: E1 + 5_000,
    before: null,
    faultAt: E1 - 1_000,
  };
  assert.equal(
    checkAuditRates(bundle([reinstated], []), late.clone(), 3, E2),
    null,
    'its slash withdrawn on review',
  );
  // A slash pending since an earlier bundle (it is in every bundle until applied) matches one fault only.
  const once = start();
  assert.equal(checkAuditRates(bundle([fault(E1 - 120_000)], [slash(9, p)]), once, 2, E1), null);
  assert.equal(
    checkAuditRates(bundle([fault(E2 - 120_000)], [slash(9, p)]), once.clone(), 3, E2)?.fact,
    name,
    'the pending slash already matched the first fault',
  );
  assert.equal(
    checkAuditRates(bundle([fault(E2 - 120_000)], [slash(9, p), slash(10, p)]), once.clone(), 3, E2),
    null,
  );
  // Before the first bundle with causes, not checked.
  const before = new ReputationReplay({ complete: false, seen: true, startEpoch: 1 });
  assert.equal(checkAuditRates(bundle([fault(E1 - 120_000)], []), before, 2, E1), null);
  // Kept in the validator's store with the rest of the replay.
  const store = openValidatorStore(':memory:');
  store.keepReputation('net', 2, [fault(E1 - 1_000)], late);
  assert.deepEqual(store.reputation('net').unslashed, late.unslashed, 'owed faults kept in the store');
  store.close();
});

test("a draw's economics are tied together: a reward under one unit or above the job's signed worst case, a slashable amount that is not the lease's lock, a negative cost are refused", () => {
  const econ = econFor(history.unitReward, 60_000n);
  const replay = fresh();
  replay.add(history.journal, 1);
  const at = history.faultAt - 2_000;
  const [rep] = replay.candidates(p, at);
  const draw = (e: { reward: bigint; honestCost: bigint; slashable: bigint }) => ({
    taskId: `0xab${'88'.repeat(31)}`,
    provider: p,
    epoch: 1,
    draw: 0.99,
    audited: false,
    otherOnline: true,
    rate: drawRate({ reputation: rep!, economics: e, unitReward: history.unitReward }),
    economics: { reward: String(e.reward), honestCost: String(e.honestCost), slashable: String(e.slashable) },
    basis: { at, unitReward: history.unitReward.toString() },
  });
  const check = (e: { reward: bigint; honestCost: bigint; slashable: bigint }) =>
    checkAuditRates(factsOf([draw(e)], history.journal), fresh(), 1)?.fact ?? null;
  assert.equal(check(econ), null, 'the economics taskEconomics.ts derives pass');
  // Each a rate the coordinator could publish consistently with its own (altered) figures.
  assert.match(String(check({ ...econ, slashable: econ.slashable * 50n })), /economics\.slashable$/);
  assert.match(String(check({ ...econ, reward: history.unitReward - 1n })), /economics\.reward$/);
  assert.match(String(check({ ...econ, honestCost: -1n })), /economics\.honestCost$/);
  // A size above the job's signed worst case (60 s × the billed cores), the figures consistent.
  assert.match(String(check(econFor(history.unitReward, 60_000n * 1000n))), /economics\.reward$/, 'inflated');
});
