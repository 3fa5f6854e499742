/**
 * The journal's task ids cross-checked against the facts (evidence version 9, checkJournalTasks.ts):
 * a credit on a task the bundle pays names a provider it pays; a canary's entry agrees with the
 * canary's verdict and a passed canary has its credit; a timeout names its cause's task. The coordinator's own
 * work loop journals the task of each verdict outcome (src/coordinator/work/journalTasks.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { CanaryFact, ReputationEntry } from '../coordinator/settlement/epochFacts.ts';
import { decodeEvidence, EVIDENCE_VERSION, encodeEvidence } from '../coordinator/settlement/evidence.ts';
import { checkJournalTasks, checkPaidCredits } from './checkJournalTasks.ts';
import { CHAIN_ID, cheater, honestEpoch, provider, SETTLEMENT } from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { openValidatorStore } from './validatorStore.ts';

const canaryTask = `0x${'ca'.repeat(32)}` as Hex;
const canary = (status: CanaryFact['status']): CanaryFact => ({
  leaseId: `0x${'c1'.repeat(32)}`,
  taskId: canaryTask,
  provider,
  status,
  expectedCid: 'dd'.repeat(32),
  expectedDigest: `0x${'dd'.repeat(32)}`,
  result: {
    outputCid: 'dd'.repeat(32),
    usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 },
    issuedAt: 1,
    signature: '0x',
  },
  draw: { epoch: 1, slot: `0x${'05'.repeat(32)}`, rate: 0.5, draw: 0.1 },
});

test('journal task ids: honest entries pass, each misattributed one is named', async () => {
  const e = await honestEpoch();
  const task = e.facts.charges[0]!.taskId;
  const valid = (p: string, t: Hex, kind: ReputationEntry['kind'] = 'valid'): ReputationEntry => ({
    provider: p,
    kind,
    at: 1,
    taskId: t,
  });
  e.facts.reputation = [valid(provider, task), valid(provider, canaryTask)];
  e.facts.canaries = [canary('passed')];
  assert.equal(checkJournalTasks(e.facts), null, 'a paid credit and a passed canary credit hold');

  e.facts.reputation = [valid(provider, task), valid(cheater, task, 'agreed')];
  assert.match(
    checkJournalTasks(e.facts)?.fact ?? 'passed',
    /^reputation\[1\]\.taskId$/,
    'a credit to an unpaid provider',
  );

  e.facts.reputation = [valid(provider, canaryTask)];
  e.facts.canaries = [canary('failed')];
  assert.match(
    checkJournalTasks(e.facts)?.fact ?? 'passed',
    /^reputation\[0\]\.taskId$/,
    'a credit for a failed canary',
  );

  e.facts.reputation = [valid(provider, canaryTask, 'fault')];
  e.facts.canaries = [canary('passed')];
  assert.match(
    checkJournalTasks(e.facts)?.fact ?? 'passed',
    /^reputation\[0\]\.taskId$/,
    'a fault on a passed canary',
  );

  e.facts.reputation = [];
  assert.match(
    checkJournalTasks(e.facts)?.fact ?? 'passed',
    /^canary\[0xc1.*\]\.reputation$/,
    'a passed canary never credited',
  );

  e.facts.canaries = [];
  const cause = {
    lease: `0x${'a7'.repeat(32)}` as Hex,
    task,
    job: e.facts.jobs[0]!.jobId,
    leasedAt: 0,
    endedAt: 1,
    code: 'PLX_LEASE_EXPIRED',
    timeoutSec: 1,
  };
  e.facts.reputation = [{ provider: cheater, kind: 'timeout', at: 1, cause, taskId: canaryTask }];
  assert.match(
    checkJournalTasks(e.facts)?.fact ?? 'passed',
    /^reputation\[0\]\.taskId$/,
    "a timeout naming another task than its cause's",
  );
});

test('version 9 carries the task id of a journal entry through the packed bundle', async () => {
  const e = await honestEpoch();
  const task = e.facts.charges[0]!.taskId;
  e.facts.reputation = [
    { provider, kind: 'valid', at: 10_500, taskId: task },
    { provider: cheater, kind: 'fault', at: 10_600, taskId: `0x${'72'.repeat(32)}` },
    { provider, kind: 'agreed', at: 10_700 },
  ];
  const head = {
    epoch: 3,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash: `0x${'00'.repeat(32)}` as const,
  };
  const { bundle } = decodeEvidence(encodeEvidence({ ...head, version: EVIDENCE_VERSION, ...e }).text);
  assert.deepEqual(
    bundle.facts.reputation,
    e.facts.reputation,
    'the entries, task ids included, survive packing',
  );
});

test("version 10: a payee credited in an earlier bundle's journal passes; one credited in no bundle's journal is named", async () => {
  // Bundle 4 pays one task to two providers (redundancy 2); the verdict that paid them came after
  // epoch 3's clock end but before 3 closed, so its credits are in bundle 3's journal.
  const e = await honestEpoch();
  const first = e.facts.charges[0]!;
  const task = first.taskId;
  const second = {
    ...first,
    provider: cheater,
    ref: `exec:0x${'a2'.repeat(32)}`,
    assignmentId: `0x${'a2'.repeat(32)}` as Hex,
  };
  e.facts.charges = [first, second];
  const resultAt = first.result.issuedAt * 1000;
  const credit = (p: string, kind: 'valid' | 'agreed', t?: Hex): ReputationEntry => ({
    provider: p,
    kind,
    at: resultAt + 1_000,
    ...(t ? { taskId: t } : {}),
  });
  const coordinator = 'http://coordinator';
  const store = openValidatorStore(':memory:');
  try {
    const replay = new ReputationReplay({ complete: true });
    const bundle3 = [credit(provider, 'valid', task), credit(cheater, 'agreed', task)];
    assert.equal(replay.add(bundle3, 3), null);
    store.keepReputation(coordinator, 3, bundle3, replay);
    // The validator restarted: the replay comes back from its store, then bundle 4's (empty) journal.
    const restored = store.reputation(coordinator);
    assert.equal(restored.add([], 4), null);
    assert.equal(checkPaidCredits(e.facts, restored), null, 'credits in an earlier bundle count');
    const same = new ReputationReplay({ complete: true });
    same.add(bundle3, 4);
    assert.equal(checkPaidCredits(e.facts, same), null, 'and in the same bundle');

    // A dishonest coordinator pays the second provider on a task nobody's journal credits it on.
    const lone = new ReputationReplay({ complete: true });
    lone.add([credit(provider, 'valid', task)], 3);
    const d = checkPaidCredits(e.facts, lone);
    assert.equal(d?.fact, `charge[${second.ref}].reputation`, 'the uncredited payee is named');
    assert.match(d!.claimed, new RegExp(cheater));
    // Credited on another task only: named too.
    const other = new ReputationReplay({ complete: true });
    other.add([credit(provider, 'valid', task), credit(cheater, 'agreed', `0x${'72'.repeat(32)}`)], 3);
    assert.equal(checkPaidCredits(e.facts, other)?.fact, `charge[${second.ref}].reputation`);
    // A credit journaled before 0057 (no task) counts only if it came at or after the result.
    const legacy = new ReputationReplay({ complete: true });
    legacy.add([credit(provider, 'valid', task), credit(cheater, 'agreed')], 3);
    assert.equal(checkPaidCredits(e.facts, legacy), null, 'a legacy credit after the result may be this one');
    const stale = new ReputationReplay({ complete: true });
    stale.add(
      [credit(provider, 'valid', task), { ...credit(cheater, 'agreed'), at: resultAt - 3_600_000 }],
      3,
    );
    assert.equal(
      checkPaidCredits(e.facts, stale)?.fact,
      `charge[${second.ref}].reputation`,
      'a legacy credit an hour before the result is not this one',
    );
    // A task paid to one provider (a lone unverified execution: no entry) needs none.
    e.facts.charges = [first];
    assert.equal(checkPaidCredits(e.facts, new ReputationReplay({ complete: true })), null);
  } finally {
    store.close();
  }
});
