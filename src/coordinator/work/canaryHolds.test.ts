/**
 * What decided a canary miss (migration 0058, evidence version 9): on the coordinator's own work
 * loop, a newcomer's miss is faulted and a long-record provider's held for review; each miss's
 * record, review state and decision go to the bundle's canary fact, and the validator's
 * re-derivation (src/validator/checkCanaryHolds.ts) holds for both. The fault's journal entry names
 * the canary's task (0057).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { checkCanaryHolds } from '../../validator/checkCanaryHolds.ts';
import type { EpochFacts } from '../settlement/epochFacts.ts';
import { readCanaryFacts, readReputationJournal } from '../settlement/readRandomFacts.ts';
import { newReputation } from '../verification/reputation.ts';
import { commitAndReveal, output, workFixture } from './workFixture.ts';

test("a newcomer's canary miss is faulted and a long record's held, each with what decided it", async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    for (let i = 0; i < 2; i++)
      await f.db
        .insertInto('canary_tasks')
        .values({
          id: `canary-${i}`,
          source_task_id: `0x${randomBytes(32).toString('hex')}`,
          source_job_id: `0x${randomBytes(32).toString('hex')}`,
          model: f.put(randomBytes(8)),
          input_cid: f.put(randomBytes(8)),
          gpu: 0,
          timeout_ms: 60_000,
          expected_digest: tensorSetDigest(output(7)),
          expected_cid: f.put(encodeSafetensors(output(7))),
          issued: 0,
          retired: 0,
          created_at: f.clock.t,
        })
        .execute();
    const take = async (p: Awaited<ReturnType<typeof f.connected>>) => {
      const before = p.assigned().length;
      await f.submitJob();
      await f.work.dispatch();
      await f.idle();
      const lease = p.assigned()[before];
      assert.ok(lease, 'the provider got a canary');
      await commitAndReveal(f, p, lease, output(8));
      await f.idle();
    };
    const newcomer = await f.connected();
    await take(newcomer);
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 25,
      verifiedValid: 25,
    });
    await take(veteran);
    const canaries = await f.db.transaction().execute((trx) => readCanaryFacts(trx, 1));
    const of = (a: string) => canaries.find((c) => c.provider.toLowerCase() === a.toLowerCase());
    assert.equal(of(newcomer.address)?.status, 'failed');
    assert.deepEqual(of(newcomer.address)?.hold, { at: f.clock.t, record: 0, review: null, held: false });
    assert.equal(of(veteran.address)?.status, 'review');
    assert.deepEqual(of(veteran.address)?.hold, { at: f.clock.t, record: 25, review: null, held: true });
    const facts = { canaries } as unknown as EpochFacts;
    assert.equal(checkCanaryHolds(facts), null, 'the validator re-derives both decisions');
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 1));
    const fault = journal.find((e) => e.kind === 'fault');
    assert.equal(fault?.taskId, of(newcomer.address)?.taskId, "the fault names the canary's task");
  } finally {
    await f.close();
  }
});
