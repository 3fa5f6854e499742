/**
 * A task is bound to its job (review s12, F3; taskOfJob.ts): a provider-signed result of one job's
 * task charged to another client's signed job is refused, as is an ended lease naming a task of
 * another job; a training job's tasks are its rounds × workers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, zeroHash } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import { chargePostings, type EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { hashCanonical } from '../protocol/canonicalJson.ts';
import { plexusMessageHash, signPlexusMessage } from '../protocol/eip712.ts';
import { taskIdOf } from '../protocol/ids.ts';
import { CHAIN_ID, ESCROW, honestEpoch, provider } from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { bundleOf, target } from './settledOnce.fixture.ts';
import { checkTaskJobs, taskCountOf, tasksOfJobs } from './taskOfJob.ts';
import { verifyEpoch } from './verifyEpoch.ts';

const { inputs, facts } = await honestEpoch();
const f3: EpochFacts = { ...facts, slashes: [] };
const i3: EpochInputs = { ...inputs, slashRequests: [], stakeHeld: [], faulted: [] };

test("B1: a provider-signed result of job A charged to another client's job B is refused", async () => {
  const victimKey = privateKeyToAccount(`0x${'0d'.repeat(32)}`);
  const victim = victimKey.address.toLowerCase() as Hex;
  const domain = { chainId: CHAIN_ID, verifyingContract: ESCROW };
  const spec = {
    kind: 'onnx.infer',
    model: 'ee'.repeat(32),
    inputs: ['ef'.repeat(32)],
    deadline: 1_790_000_000 + 3600,
    verification: { policy: 'none' },
  };
  const message = {
    client: victim,
    specHash: hashCanonical(spec),
    nonce: 1n,
    maxPricePerUnit: 10_000_000n,
    issuedAt: 1_790_000_000n,
  };
  const jobB = plexusMessageHash(domain, 'JobSubmission', message);
  const job = {
    jobId: jobB,
    client: victim,
    spec,
    nonce: '1',
    maxPricePerUnit: '10000000',
    issuedAt: 1_790_000_000,
    signature: await signPlexusMessage(victimKey, domain, 'JobSubmission', message),
  };
  const c = { ...f3.charges[0]!, jobId: jobB }; // its task stays taskIdOf(job A, 0)
  const f: EpochFacts = { ...f3, jobs: [job], charges: [c] };
  const epochBalances = chargePostings(c, victim).map((p) => ({ account: p.account, balance: p.amount }));
  const i: EpochInputs = {
    ...i3,
    unsettled: [{ client: victim, amount: BigInt(c.charge), escrow: 10n ** 18n }],
    epochBalances,
    providerBalances: epochBalances.filter((b) => b.account.startsWith('provider:')),
  };
  const e = bundleOf(f, i, 3, zeroHash);
  const v = await verifyEpoch({
    evidence: e.text,
    claim: e.claim,
    target,
    prevHash: null,
    reputation: new ReputationReplay({ complete: true }),
  });
  assert.equal(!v.ok && v.fact, `charge[${c.ref}].task`);
  // The honest bundle (the task of its own job) holds.
  const honest = bundleOf(f3, i3, 3, zeroHash);
  const ok = await verifyEpoch({ evidence: honest.text, claim: honest.claim, target, prevHash: null });
  assert.ok(ok.ok, ok.ok ? '' : ok.fact);
});

test('an ended lease naming a task of another job than its own is refused; of a job not in the bundle, left', () => {
  const job = f3.jobs[0]!;
  const lease = {
    lease: f3.charges[0]!.assignmentId,
    provider,
    task: f3.charges[0]!.taskId,
    job: job.jobId,
    leasedAt: 10_100,
    endedAt: 10_200,
    code: null,
  };
  assert.equal(checkTaskJobs({ ...f3, endedLeases: [lease] }), null);
  const foreign = { ...lease, task: taskIdOf(job.jobId, 1) }; // the job has one input
  assert.equal(checkTaskJobs({ ...f3, endedLeases: [foreign] })?.fact, `endedLease[${lease.lease}].task`);
  const unknownJob = { ...lease, job: `0x${'99'.repeat(32)}` as Hex };
  assert.equal(checkTaskJobs({ ...f3, endedLeases: [unknownJob] }), null, 'its job is not in the bundle');
});

test("a training job's tasks are its rounds × workers; a render or inference job's, its inputs", () => {
  assert.equal(taskCountOf({ kind: 'train.diloco', rounds: 3, workers: 4 }), 12);
  assert.equal(taskCountOf({ kind: 'onnx.infer', inputs: ['a', 'b'] }), 2);
  assert.equal(taskCountOf({ kind: 'unknown' }), 0);
  const jobId = `0x${'12'.repeat(32)}` as Hex;
  const tasks = tasksOfJobs([
    { ...f3.jobs[0]!, jobId, spec: { kind: 'train.diloco', rounds: 2, workers: 3 } },
  ]);
  assert.equal(tasks.of(jobId, taskIdOf(jobId, 5)), true, 'round 1, worker 2');
  assert.equal(tasks.of(jobId, taskIdOf(jobId, 6)), false, 'no round 2');
  assert.equal(tasks.of(`0x${'34'.repeat(32)}`, taskIdOf(jobId, 0)), undefined, 'job not in the bundle');
});
