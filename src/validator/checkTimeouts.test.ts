/**
 * Timeouts in the reputation journal are checked from their causes (checkTimeouts.ts): a signed
 * failure report holds only under the provider's own key, an expired lease only past the deadline
 * the client-signed job fixes, a canary lease only past its expiry, and no lease paid a signed result
 * or reported with one is a timeout. Real keys and signatures (factsFixture.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, keccak256, toBytes } from 'viem';
import type { ReputationEntry, TimeoutCause } from '../coordinator/settlement/epochFacts.ts';
import { signPlexusMessage } from '../protocol/eip712.ts';
import { taskIdOf } from '../protocol/ids.ts';
import { checkTimeouts } from './checkTimeouts.ts';
import { CHAIN_ID, cheaterKey, honestEpoch, provider, providerKey } from './factsFixture.ts';

const { facts } = await honestEpoch();
const job = facts.jobs[0]!;
const task = taskIdOf(job.jobId, 0);
const lease = `0x${'d1'.repeat(32)}` as Hex;
const at = 1_800_000_000_000;
const strict = { causesRequired: true, legacyAllowed: false };
const expired: TimeoutCause = {
  lease,
  task,
  job: job.jobId,
  leasedAt: at - 130_000,
  endedAt: at - 5_000,
  code: 'PLX_LEASE_EXPIRED',
  // The fixture's spec leaves taskTimeoutSec out: the schema's default applies.
  timeoutSec: 120,
};
const check = (cause: TimeoutCause | undefined, opts = strict, f = facts) => {
  const e: ReputationEntry = { provider, kind: 'timeout', at, ...(cause ? { cause } : {}) };
  return checkTimeouts({ ...f, reputation: [e] }, CHAIN_ID, opts);
};
const failure = async (key = providerKey) => {
  const reasonHash = keccak256(toBytes('PLX_RUNTIME:out of memory'));
  const issuedAt = Math.floor(at / 1000) - 10;
  const signature = await signPlexusMessage(key, CHAIN_ID, 'TaskFailure', {
    provider,
    assignmentId: lease,
    taskId: task,
    reasonHash,
    issuedAt: BigInt(issuedAt),
  });
  return { reasonHash, issuedAt, signature };
};

test('timeouts with their causes hold: an expired lease past its deadline, a signed failure, a canary that ran out', async () => {
  assert.equal(await check(expired), null, 'expired lease');
  const signed = await failure();
  assert.equal(
    await check({ ...expired, endedAt: at - 100_000, code: 'PLX_RUNTIME', failure: signed }),
    null,
    'the provider reported the failure itself (before any deadline)',
  );
  assert.equal(
    await check({ ...expired, code: 'PLX_LEASE_LOST', endedAt: at - 120_000 }),
    null,
    'lost lease',
  );
  const canary: TimeoutCause = {
    canary: lease,
    task,
    leasedAt: at - 60_000,
    expiresAt: at - 1_000,
    endedAt: at - 500,
    code: 'PLX_LEASE_EXPIRED',
  };
  assert.equal(await check(canary), null, 'canary lease');
  assert.equal(
    await check({ ...canary, endedAt: at - 30_000, code: 'PLX_LEASE_LOST' }),
    null,
    'a canary lease lost before its expiry (the provider came back without it)',
  );
  assert.equal(
    await check({ legacy: true }, { causesRequired: true, legacyAllowed: true }),
    null,
    'legacy, first bundle',
  );
  assert.equal(
    await check(undefined, { causesRequired: false, legacyAllowed: false }),
    null,
    'a version-4 bundle',
  );
});

test('each invented or misstated timeout is refused and named', async () => {
  const forged = await failure(cheaterKey);
  const cases: [string, TimeoutCause | undefined, RegExp][] = [
    ['no cause', undefined, /^reputation\[0\]\.cause$/],
    ['legacy after the first bundle with causes', { legacy: true }, /^reputation\[0\]\.cause$/],
    ['expired before its deadline', { ...expired, endedAt: at - 20_000 }, /^reputation\[0\]\.deadline$/],
    ['a deadline from another timeout than the signed job', { ...expired, timeoutSec: 5 }, /\.timeoutSec$/],
    ['a task not of the job', { ...expired, task: `0x${'99'.repeat(32)}` }, /^reputation\[0\]\.task$/],
    ['journaled before the lease ended', { ...expired, endedAt: at + 60_001 }, /^reputation\[0\]\.at$/],
    ['an end that is no lease end', { ...expired, code: 'PLX_WHATEVER' }, /^reputation\[0\]\.code$/],
    ['a failure signed by another key', { ...expired, code: 'PLX_RUNTIME', failure: forged }, /\.failure$/],
    [
      'a canary lease ended before it expired',
      {
        canary: lease,
        task,
        leasedAt: at - 60_000,
        expiresAt: at,
        endedAt: at - 30_000,
        code: 'PLX_LEASE_EXPIRED',
      },
      /^reputation\[0\]\.deadline$/,
    ],
  ];
  for (const [name, cause, fact] of cases) {
    const d = await check(cause);
    assert.ok(d, name);
    assert.match(d.fact, fact, name);
  }
  // A lease the bundle pays a signed result for, and a canary lease reported with its result.
  const paid = facts.charges[0]!.assignmentId;
  const p = await check({ ...expired, lease: paid });
  assert.match(p?.fact ?? '', /^reputation\[0\]\.paid$/, 'a paid lease is no timeout');
  const withCanary = {
    ...facts,
    canaries: [{ leaseId: lease } as unknown as NonNullable<typeof facts.canaries>[number]],
  };
  const r = await check(
    { canary: lease, task, leasedAt: at - 60_000, expiresAt: at - 1, endedAt: at, code: 'PLX_LEASE_EXPIRED' },
    strict,
    withCanary,
  );
  assert.match(r?.fact ?? '', /^reputation\[0\]\.result$/, 'a canary reported with a result is no timeout');
});
