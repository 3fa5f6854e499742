/**
 * A held client's delivered, unchecked outputs are billed at once (heldBilling.ts), and an output
 * billed that way is final: a later fault of its provider does not reopen it (so a reopened task is
 * still never charged). The end-to-end case, on anvil with a real withdrawal, is in
 * test/escrowHold.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Transaction } from 'kysely';
import { billHeldClient } from '../market/heldBilling.ts';
import type { Database } from '../store/schema.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { reopenCaughtOutputs, reviewEndedOutputs } from './recheckCaught.ts';
import { idleMarket, workFixture } from './workFixture.ts';

const unverified = (taskId: string, provider: string) =>
  ({
    taskId,
    status: 'accepted',
    acceptedFrom: provider,
    acceptedDigest: `0x${'cd'.repeat(32)}`,
    verified: false,
    outcomes: [{ provider, outcome: 'unverified' }],
    faults: [],
    slashes: [],
    executions: 1,
  }) as unknown as Verdict;

test("a held client's unchecked outputs are billed once, and a billed one is not reopened when its provider is caught", async () => {
  const f = await workFixture({ market: idleMarket() });
  try {
    const cheater = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 3, verification: { policy: 'audit' } });
    const client = (await f.job(jobId)).client;
    await f.db
      .updateTable('jobs')
      .set({ status: 'running', max_price: '1000' })
      .where('id', '=', jobId)
      .execute();
    await f.setTasksDone(jobId, 2);
    // Tasks 0 and 1 delivered by the cheater, unchecked (their bills wait for the job's end).
    for (const i of [0, 1]) {
      const id = taskIds[i]!;
      await f.db
        .updateTable('tasks')
        .set({
          status: 'completed',
          provider: cheater.address,
          output_cid: 'ab'.repeat(32),
          result: '{}',
          attempts: 1,
        })
        .where('id', '=', id)
        .execute();
      await f.db
        .insertInto('task_verifications')
        .values({
          task_id: id,
          job_id: jobId,
          policy: JSON.stringify({ kind: 'audit' }),
          audit: 0,
          status: 'accepted',
          verdict: JSON.stringify(unverified(id, cheater.address)),
          log: '[]',
          created_at: 1,
          updated_at: 1,
        })
        .execute();
      await f.db
        .insertInto('task_executions')
        .values({
          assignment_id: `a${i}`,
          task_id: id,
          provider: cheater.address,
          output_cid: 'ab'.repeat(32),
          output_digest: '0x',
          salt: '0x',
          result: '{}',
          created_at: 1,
        })
        .execute();
    }
    // The held bill: the market's onVerdict posts each execution's charge (here: its ledger entry).
    const billed: string[] = [];
    const charge = async (trx: Transaction<Database>, _j: string, v: Verdict) => {
      billed.push(v.taskId);
      const i = taskIds.indexOf(v.taskId);
      await trx
        .insertInto('ledger_entries')
        .values({ ref: `exec:a${i}`, kind: 'charge', epoch: 1, job_id: jobId, memo: '{}', created_at: 1 })
        .execute();
    };
    // Task 1 is delivered after the re-read (it completes at the next one, if still held).
    await f.db.updateTable('tasks').set({ status: 'assigned' }).where('id', '=', taskIds[1]!).execute();
    assert.equal(await billHeldClient(f.db, client, charge), 1);
    assert.deepEqual(billed, [taskIds[0]]);
    // At the next re-read nothing is billed again.
    assert.equal(await billHeldClient(f.db, client, charge), 0, 'a held bill was posted twice');
    // A fault of the cheater on task 2 reopens task 1 (unbilled), never the billed task 0.
    await f.db.updateTable('tasks').set({ status: 'completed' }).where('id', '=', taskIds[1]!).execute();
    const reopened = await f.db
      .transaction()
      .execute((trx) => reopenCaughtOutputs(f.state, f.work, trx, cheater.address, taskIds[2]!));
    assert.deepEqual(
      reopened,
      [{ jobId, taskId: taskIds[1] }],
      'a billed output was reopened (charged and run again)',
    );
    assert.equal((await f.task(taskIds[0]!)).status, 'completed');
    // The billed output is re-verified instead, as an ended job's is (a review-only known answer
    // whose trusted checks revoke and refund it if wrong; recheckCaught.ts reviewEndedOutputs).
    await f.db
      .transaction()
      .execute((trx) => reviewEndedOutputs(f.state, f.work, trx, cheater.address, taskIds[2]!));
    const reviewed = await f.db
      .selectFrom('canary_tasks')
      .select('source_task_id')
      .where('source_task_id', 'in', [taskIds[0]!, taskIds[1]!])
      .execute();
    assert.deepEqual(
      reviewed.map((r) => r.source_task_id),
      [taskIds[0]],
      'the early-billed output of the running job was not re-verified',
    );
  } finally {
    await f.close();
  }
});
