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
import { checkJournalTasks } from './checkJournalTasks.ts';
import { CHAIN_ID, cheater, honestEpoch, provider, SETTLEMENT } from './factsFixture.ts';

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
