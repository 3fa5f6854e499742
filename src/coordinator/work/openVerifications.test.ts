import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import { initFor, loadVerification, mayReveal, openVerification } from './openVerifications.ts';
import { handleResult } from './results.ts';
import { lockAmount } from './stakeLocks.ts';
import { output, workFixture } from './workFixture.ts';
import { forgetVerification } from './workState.ts';

test('an open verification lost from memory is rebuilt from its stored log and outputs', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    const taskId = taskIds[0]!;
    await f.work.dispatch();
    await handleResult(f.state, f.work, a.address, await a.result(a.assigned()[0]!, output(1)));
    const before = f.state.verifications.get(taskId);
    assert.ok(before, 'before');
    // As after a restart: nothing in memory.
    forgetVerification(f.state, taskId);
    assert.equal(f.state.verifications.has(taskId), false);
    const rebuilt = await loadVerification(f.state, f.work, taskId);
    assert.ok(rebuilt, 'rebuilt');
    assert.notEqual(rebuilt, before);
    assert.deepEqual(rebuilt.log(), before.log());
    assert.ok(
      f.state.outputsOf.get(taskId)?.has(tensorSetDigest(output(1))),
      'f.state.outputsOf.get(taskId)?.has(tensorSetDigest(output(1)))',
    );
    assert.equal(await loadVerification(f.state, f.work, taskId), rebuilt, 'then served from memory');
    assert.equal(mayReveal(rebuilt, a.address), false, 'b has not committed');
    assert.equal(mayReveal(rebuilt, '0x0000000000000000000000000000000000000009'), false, 'no execution');
    // The rebuilt machine decides the round with b's result.
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(1)));
    assert.equal((await f.task(taskId)).status, 'completed');
    assert.equal(await loadVerification(f.state, f.work, taskId), undefined, 'decided: no longer open');
  } finally {
    await f.close();
  }
});

const P = '0x00000000000000000000000000000000000000ab';

test('openVerification draws no audit for a `none` task, and prices it with the state’s economics', async () => {
  const f = await workFixture();
  try {
    const init = initFor(f.state, 't1', { kind: 'none' }, false);
    assert.equal(init.reward, f.state.econ.reward);
    assert.equal(init.stakeOf(P), f.state.econ.stake);
    const open = (taskId: string, policy: VerificationPolicy) =>
      f.db
        .transaction()
        .execute((trx) => openVerification(f.state, f.work, trx, { task_id: taskId }, P, policy));
    const { tv, audit } = await open('t1', { kind: 'none' });
    assert.equal(audit, false);
    assert.equal(f.state.verifications.get('t1'), tv);
    // An audit needs another provider online to run it: alone, none is drawn.
    const alone = await open('t2', { kind: 'audit' });
    assert.equal(alone.audit, false);
  } finally {
    await f.close();
  }
});

test('with a market, the audit draw of a task is priced with its job’s size: R, C and F (its lock) scale with it, and a 600 s task is always audited', async () => {
  const f = await workFixture();
  try {
    const seen: { reward: bigint; honestCost: bigint; slashable: bigint; rate: number }[] = [];
    const audits = f.work.audits;
    const deps = {
      ...f.work,
      market: { currentEpoch: async () => undefined },
      audits: {
        shouldAudit: (
          p: Parameters<typeof audits.shouldAudit>[0],
          t: Parameters<typeof audits.shouldAudit>[1],
        ) => {
          const d = audits.shouldAudit(p, t);
          seen.push({ reward: t.reward, honestCost: t.honestCost, slashable: t.slashable, rate: d.rate });
          return d;
        },
      },
    } as unknown as typeof f.work;
    const small = await f.submitJob({ taskTimeoutSec: 1 });
    const big = await f.submitJob({ taskTimeoutSec: 600 });
    for (const j of [small, big]) {
      await f.db.transaction().execute((trx) =>
        openVerification(f.state, deps, trx, { task_id: j.taskIds[0]!, job_id: j.jobId }, P, {
          kind: 'audit',
        }),
      );
    }
    assert.equal(seen.length, 2);
    assert.equal(seen[0]?.reward, f.state.econ.reward * 4n, '1 s × 4 cores');
    assert.equal(seen[1]?.reward, f.state.econ.reward * 2400n, '600 s × 4 cores');
    assert.equal(seen[0]?.slashable, lockAmount(f.state.econ.reward * 4n));
    assert.equal(seen[1]?.slashable, lockAmount(f.state.econ.reward * 2400n));
    assert.equal(seen[1]?.rate, 1, 'pay ≥ 50·R: always audited');
  } finally {
    await f.close();
  }
});
