/**
 * Ended leases (evidence version 6, checkLeases.ts): a dishonest coordinator that leaves an
 * auditor's timeout out of the journal, cites one lease twice (in one bundle or two), cites a lease
 * it never listed or misstates it, or names a job it does not carry, is refused; an honest one —
 * the timeout cited, a primary's attempt before the result (no timeout owed), a slash instead of a
 * timeout, a cancelled job — is not. Real keys and signatures (factsFixture.ts), through
 * `verifyEpoch` where the old code would have signed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';
import type { EndedLease, EpochFacts, ReputationEntry } from '../coordinator/settlement/epochFacts.ts';
import { decodeEvidence, EVIDENCE_VERSION, encodeEvidence } from '../coordinator/settlement/evidence.ts';
import { checkLeases, type LeaseLedger } from './checkLeases.ts';
import { checkTimeouts } from './checkTimeouts.ts';
import {
  CHAIN_ID,
  cheater,
  cheaterKey,
  honestEpoch,
  provider,
  SETTLEMENT,
  signedResult,
} from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { openValidatorStore } from './validatorStore.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

const { inputs, facts } = await honestEpoch();
const charge = facts.charges[0]!;
const t1 = inputs.startsAt + 100;
/** The primary's paid result. */
const primary: EndedLease = {
  lease: charge.assignmentId,
  provider,
  task: charge.taskId,
  job: charge.jobId,
  leasedAt: t1 - 50,
  endedAt: t1,
  code: null,
};
/** An auditor leased after the result, whose lease ran out (the fixture's job: 120 s). */
const auditor: EndedLease = {
  lease: `0x${'d7'.repeat(32)}` as Hex,
  provider: cheater,
  task: charge.taskId,
  job: charge.jobId,
  leasedAt: t1 + 10,
  endedAt: t1 + 10 + 120_000,
  code: 'PLX_LEASE_EXPIRED',
};
const timeoutOf = (l: EndedLease, over: Partial<EndedLease> = {}): ReputationEntry => {
  const x = { ...l, ...over };
  return {
    provider: x.provider,
    kind: 'timeout',
    at: x.endedAt + 1,
    cause: {
      lease: x.lease,
      task: x.task,
      job: x.job,
      leasedAt: x.leasedAt,
      endedAt: x.endedAt,
      code: x.code ?? 'PLX_LEASE_EXPIRED',
      timeoutSec: 120,
    },
  };
};
const withLeases = (
  endedLeases: EndedLease[],
  reputation: ReputationEntry[],
  over: Partial<EpochFacts> = {},
) => ({ ...facts, endedLeases, reputation, ...over }) as EpochFacts;
const check = (f: EpochFacts, ledger?: LeaseLedger) => checkLeases(f, inputs, ledger);
const fact = (r: ReturnType<typeof check>) => ('fact' in r ? r.fact : null);

test('an honest bundle: the auditor timeout cited, a primary attempt before the result, a slash, a cancelled job', () => {
  const ok = check(withLeases([primary, auditor], [timeoutOf(auditor)]));
  assert.equal(fact(ok), null, 'the cited timeout holds');
  assert.deepEqual('open' in ok ? ok.open : null, [], 'the paid task leaves nothing open');
  const early = { ...auditor, provider, leasedAt: t1 - 200_000, endedAt: t1 - 60_000 };
  assert.equal(
    fact(check(withLeases([early, primary], []))),
    null,
    'an attempt before the result owes nothing',
  );
  const slashed = withLeases([primary, auditor], [], {
    slashes: [{ ...facts.slashes[0]!, taskId: charge.taskId }],
  });
  assert.equal(fact(check(slashed)), null, 'the provider slashed on the task');
  const cancelled = { ...auditor, code: 'PLX_JOB_CANCELLED' };
  assert.equal(fact(check(withLeases([primary, cancelled], []))), null, 'a cancelled lease');
  // Not paid yet: the lease stays open in the ledger until the task's verdict.
  const pending = check(withLeases([auditor], [], { charges: [] }));
  assert.deepEqual('open' in pending ? pending.open.map((l) => l.lease) : null, [auditor.lease], 'kept open');
});

test('a dishonest coordinator that leaves the auditor timeout out is refused when the task is paid', () => {
  const r = check(withLeases([primary, auditor], []));
  assert.equal(fact(r), `endedLease[${auditor.lease}].timeout`, 'omitted in the same bundle');
  assert.match('claimed' in r ? r.claimed : '', new RegExp(cheater), 'the dispute names the provider');
  // Listed in one bundle, the task paid in the next: still owed.
  const a = check(withLeases([auditor], [], { charges: [] }));
  assert.ok(!('fact' in a), 'the listing alone holds');
  const b = check(withLeases([primary], []), a as LeaseLedger);
  assert.equal(fact(b), `endedLease[${auditor.lease}].timeout`, 'omitted across bundles');
});

test('one lease cited twice, unlisted, misstated or listed with a result is refused', () => {
  const twice = check(withLeases([primary, auditor], [timeoutOf(auditor), timeoutOf(auditor)]));
  assert.equal(fact(twice), 'reputation[1].lease', 'twice in one bundle');
  const a = check(withLeases([auditor], [timeoutOf(auditor)], { charges: [] })) as LeaseLedger;
  assert.ok(!('fact' in a), 'cited once');
  assert.equal(fact(check(withLeases([], [timeoutOf(auditor)]), a)), 'reputation[0].lease', 'again later');
  const ghost = { ...auditor, lease: `0x${'e1'.repeat(32)}` as Hex };
  const later: LeaseLedger = { from: inputs.startsAt - 1, open: [], cited: [] };
  assert.equal(fact(check(withLeases([], [timeoutOf(ghost)]), later)), 'reputation[0].lease', 'never listed');
  assert.equal(
    fact(check(withLeases([], [timeoutOf(ghost)]))),
    null,
    'the first bundle: ended before listing',
  );
  const moved = timeoutOf(auditor, { endedAt: auditor.endedAt - 1 });
  assert.equal(fact(check(withLeases([auditor], [moved]))), 'reputation[0].lease', 'misstated end');
  const other = timeoutOf(auditor, { provider });
  assert.equal(fact(check(withLeases([auditor], [other]))), 'reputation[0].lease', 'another provider');
  const onResult = timeoutOf({ ...primary, code: 'PLX_LEASE_EXPIRED' });
  assert.equal(
    fact(check(withLeases([primary], [onResult]))),
    'reputation[0].lease',
    'a lease with a result',
  );
  assert.equal(
    fact(check(withLeases([auditor, auditor], []))),
    `endedLease[${auditor.lease}].listed`,
    'listed twice',
  );
});

test('version 6 carries every cause job: a timeout naming a job not in the bundle is refused', async () => {
  const foreign = timeoutOf(auditor, { job: `0x${'99'.repeat(32)}` as Hex });
  const f = withLeases([], [foreign]);
  const opts = { causesRequired: true, legacyAllowed: false };
  assert.equal(await checkTimeouts(f, CHAIN_ID, opts), null, 'before version 6 the deadline went unchecked');
  const r = await checkTimeouts(f, CHAIN_ID, { ...opts, jobsRequired: true });
  assert.equal(r?.fact, 'reputation[0].job', 'named');
});

/** An epoch's bundle and the claim an honest computation gives for it. */
function bundle(f: EpochFacts, epoch = 3, prevHash = `0x${'00'.repeat(32)}` as Hex, i = inputs) {
  const b = encodeEvidence({
    version: EVIDENCE_VERSION,
    epoch,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash,
    inputs: { ...i, epoch },
    facts: f,
  });
  const o = computeEpoch({ ...i, epoch }, b.hash);
  const payload = JSON.parse(
    JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  );
  const leaves = (
    JSON.parse(o.tree ?? '{"values":[]}') as { values: { value: [string, string] }[] }
  ).values.map((v) => ({
    account: v.value[0],
    cumulativeAmount: v.value[1],
  }));
  const claim: EpochClaim = { epoch, payload, leaves };
  return { ...b, claim };
}

test('verifyEpoch: the ended leases survive the bundle, the omitted timeout gets no signature, the ledger is kept', async () => {
  const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };
  const honest = bundle(withLeases([primary, auditor], [timeoutOf(auditor)]));
  assert.deepEqual(decodeEvidence(honest.text).bundle.facts.endedLeases, [primary, auditor], 'round trip');
  const replay = new ReputationReplay({ complete: false });
  const ok = await verifyEpoch({
    evidence: honest.text,
    claim: honest.claim,
    target,
    prevHash: null,
    reputation: replay,
  });
  assert.ok(ok.ok, `the honest bundle is signed: ${ok.ok ? '' : ok.fact}`);
  const omitted = bundle(withLeases([primary, auditor], []));
  const v = await verifyEpoch({
    evidence: omitted.text,
    claim: omitted.claim,
    target,
    prevHash: null,
    reputation: replay,
  });
  assert.ok(
    !v.ok && v.fact === `endedLease[${auditor.lease}].timeout`,
    'no signature for the omitted timeout',
  );
  // Across bundles, through the replay the store keeps: the primary's result listed in epoch 3
  // (nothing charged yet), the auditor's expired lease and the payment in epoch 4.
  const idle = { ...inputs, unsettled: [], epochBalances: [], providerBalances: [], tasksSettled: 0 };
  const e3 = bundle(withLeases([primary], [], { charges: [] }), 3, undefined, idle);
  const v3 = await verifyEpoch({
    evidence: e3.text,
    claim: e3.claim,
    target,
    prevHash: null,
    reputation: replay,
  });
  assert.ok(v3.ok && v3.reputation?.leases?.open.length === 1, 'epoch 3 signed, the lease kept open');
  const kept = ReputationReplay.restore(JSON.parse(JSON.stringify(v3.reputation!.meta())), []);
  const e4 = bundle(withLeases([auditor], []), 4, e3.hash);
  const v4 = await verifyEpoch({
    evidence: e4.text,
    claim: e4.claim,
    target,
    prevHash: e3.hash,
    reputation: kept,
  });
  assert.ok(
    !v4.ok && v4.fact === `endedLease[${auditor.lease}].timeout`,
    'the restored replay still owes it',
  );
});

test('a re-closed epoch the validator signed before is checked from its stored replay as it was before that epoch (not disputed as listed twice)', async () => {
  const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };
  const store = openValidatorStore(':memory:');
  const C = 'http://coordinator';
  const idle = { ...inputs, unsettled: [], epochBalances: [], providerBalances: [], tasksSettled: 0 };
  // Epoch 3 lists the auditor's expired lease (its task not paid yet); signed, its replay kept.
  const e3 = bundle(withLeases([auditor], [], { charges: [] }), 3, undefined, idle);
  const v3 = await verifyEpoch({
    evidence: e3.text,
    claim: e3.claim,
    target,
    prevHash: null,
    reputation: new ReputationReplay({ complete: false }),
  });
  assert.ok(v3.ok && v3.reputation, 'epoch 3 signed');
  store.keepReputation(C, 3, [], v3.reputation);
  assert.equal(store.replayEpoch(C), 3, 'the replay is at epoch 3');
  // Reopened and closed again (the same leases reported again): with the latest replay it reads
  // as the lease listed twice; from the replay before epoch 3 it is signed.
  const again = { evidence: e3.text, claim: e3.claim, target, prevHash: null };
  const stale = await verifyEpoch({ ...again, reputation: store.reputation(C) });
  assert.ok(!stale.ok && stale.fact.endsWith('.listed'), 'the kept replay alone disputes it');
  const before = store.reputationBefore(C, 3);
  const redo = await verifyEpoch({ ...again, reputation: before });
  assert.ok(redo.ok && redo.reputation, 'checked from the replay before epoch 3: signed');
  store.keepReputation(C, 3, [], redo.reputation);
  assert.equal(store.reputation(C).leases?.open.length, 1, 'kept once');
  store.close();
});

test('review 2: an unlisted lease is cited only within LEASE_MEMORY_MS before listing started and in the first LEASE_MEMORY_MS of listing; a cited one is kept by the citing bundle, not by its claimed end', () => {
  const day = 24 * 3600_000;
  const invented = (endedAt: number, n = 0): EpochFacts =>
    ({
      ...facts,
      charges: [],
      endedLeases: [],
      reputation: [
        timeoutOf(
          { ...auditor, lease: `0x${'ee'.repeat(32)}` as Hex, leasedAt: endedAt - 120_000, endedAt },
          {},
        ),
      ].map((e) => ({ ...e, at: e.at + n })),
    }) as EpochFacts;
  const from = inputs.closedAt - 3600_000;
  const ledger: LeaseLedger = { from, open: [], cited: [] };
  // The reviewer's exploit: a claimed end 8 days old, before `from`.
  const old = checkLeases(invented(inputs.endsAt - 8 * day), inputs, ledger);
  assert.ok('fact' in old, 'an unlisted lease that ended over 7 days before listing started is refused');
  // Within the window: accepted once, then remembered by this bundle's close, so refused again
  // even though its claimed end is older than LEASE_MEMORY_MS by the next bundle.
  const r = checkLeases(invented(from - day), inputs, ledger);
  assert.ok(!('fact' in r), `a lease ended a day before listing started: ${JSON.stringify(r)}`);
  const later = {
    ...inputs,
    closedAt: inputs.closedAt + 6 * day + 23 * 3600_000,
    endsAt: inputs.endsAt + 6 * day + 23 * 3600_000,
  };
  assert.ok(
    'fact' in checkLeases(invented(from - day, 1), later, r),
    'cited again within 7 days of the citation',
  );
  // After the first 7 days of listing, no unlisted lease at all.
  const after = { ...inputs, closedAt: from + 7 * day + 1, endsAt: from + 7 * day + 1 };
  assert.ok('fact' in checkLeases(invented(from - 1), after, ledger), 'the grace ends after 7 days');
});

test('version 7: a result on a paid task neither paid nor slashed travels signed (else refused); a failed canary needs its slash', async () => {
  const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };
  /** The cheater's result on the paid task, left out of the verdict (no charge, no slash). */
  const spared: EndedLease = {
    lease: `0x${'b2'.repeat(32)}` as Hex,
    provider: cheater,
    task: charge.taskId,
    job: charge.jobId,
    leasedAt: t1 - 40,
    endedAt: t1 + 5,
    code: null,
  };
  const signed = await signedResult(cheaterKey, spared.lease, spared.task, 'dd'.repeat(32));
  const { assignmentId: _a, taskId: _t, ...res } = signed;
  const withResult = { ...spared, result: res };
  /** The bundle that pays the task carries the spared result, signed (`facts.unpaidResults`). */
  const shown = (r = res) => ({
    unpaidResults: [{ lease: spared.lease, provider: cheater, task: spared.task, result: r }],
  });
  const verdict = async (f: EpochFacts) => {
    const b = bundle(f);
    return verifyEpoch({ evidence: b.text, claim: b.claim, target, prevHash: null });
  };
  const ok = await verdict(withLeases([primary, spared], [], shown()));
  assert.ok(ok.ok, `signed: ${ok.ok ? '' : ok.fact}`);
  assert.deepEqual(ok.ok ? ok.unpaid : null, [withResult], 'the spared result goes to the output check');
  assert.deepEqual(
    decodeEvidence(bundle(withLeases([primary, spared], [], shown())).text).bundle.facts.unpaidResults,
    shown().unpaidResults,
    'the signed result survives the bundle',
  );
  // A provider caught after its result (its unchecked output run again, recheckCaught.ts): the
  // task's new verdict does not judge the old result.
  const caught = await verdict(
    withLeases([primary, spared], [{ provider: cheater, kind: 'fault', at: t1 + 6 }], shown()),
  );
  assert.deepEqual(caught.ok ? caught.unpaid : null, [], 'faulted after it: not compared');
  // Listed in epoch 3 (the task not paid yet), paid in epoch 4 through the replay the store keeps:
  // the paying bundle carries the result, handed to the output check.
  const idle = { ...inputs, unsettled: [], epochBalances: [], providerBalances: [], tasksSettled: 0 };
  const e3 = bundle(withLeases([spared], [], { charges: [] }), 3, undefined, idle);
  const replay = new ReputationReplay({ complete: false });
  const v3 = await verifyEpoch({
    evidence: e3.text,
    claim: e3.claim,
    target,
    prevHash: null,
    reputation: replay,
  });
  assert.ok(v3.ok && v3.reputation, 'epoch 3 signed');
  const kept = ReputationReplay.restore(JSON.parse(JSON.stringify(v3.reputation.meta())), []);
  const epoch4 = async (over: Partial<EpochFacts>) => {
    const e4 = bundle(withLeases([primary], [], over), 4, e3.hash);
    return verifyEpoch({
      evidence: e4.text,
      claim: e4.claim,
      target,
      prevHash: e3.hash,
      reputation: kept.clone(),
    });
  };
  const v4 = await epoch4(shown());
  assert.deepEqual(v4.ok ? v4.unpaid : null, [withResult], 'kept across bundles');
  const v4hidden = await epoch4({});
  assert.ok(!v4hidden.ok && v4hidden.fact === `endedLease[${spared.lease}].result`, 'hidden across bundles');
  const hidden = await verdict(withLeases([primary, spared], []));
  assert.ok(!hidden.ok && hidden.fact === `endedLease[${spared.lease}].result`, 'its result not shown');
  const f = await verdict(withLeases([primary, spared], [], shown({ ...res, outputCid: 'de'.repeat(32) })));
  assert.ok(!f.ok && f.fact === `endedLease[${spared.lease}].result.signature`, 'a result it did not sign');
  // A canary the coordinator reports failed (its status is re-derived from the outputs) with no slash.
  const canary = {
    leaseId: `0x${'ca'.repeat(32)}` as Hex,
    taskId: `0x${'cb'.repeat(32)}` as Hex,
    provider: cheater,
    status: 'failed' as const,
    expectedCid: 'ee'.repeat(32),
    expectedDigest: `0x${'ef'.repeat(32)}` as Hex,
    result: res,
    draw: null,
  };
  const c = await signedResult(cheaterKey, canary.leaseId, canary.taskId, 'dd'.repeat(32));
  const withCanary = withLeases([primary], [], {
    canaries: [{ ...canary, result: { ...res, signature: c.signature } }],
  });
  const unslashed = await verdict(withCanary);
  assert.ok(
    !unslashed.ok && unslashed.fact === `canary[${canary.leaseId}].fault`,
    'a failed canary with no slash',
  );
});
