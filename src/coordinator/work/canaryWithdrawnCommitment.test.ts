/**
 * Issue 15 ("A signed commitment never revealed is a proven fault with the commitment as
 * evidence"): a real task's lease whose provider committed and then reported a failure becomes a
 * `bad-reveal` fault, slashed (work/leases.ts `failAttempt`); a canary's cost only a `timeout`, so
 * a provider could commit a guess to a canary and bail out cheaply. Now the canary's is the same
 * fault. On the code before: no fault, no slash, a `timeout` journaled.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { handleFailure } from './leases.ts';
import { handleCommit } from './results.ts';
import { output, workFixture } from './workFixture.ts';

test('a canary lease committed and then failed is a bad-reveal fault with the commitment as evidence, slashed and published on its shadow job', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await f.db
      .insertInto('canary_tasks')
      .values({
        id: `canary-${randomBytes(4).toString('hex')}`,
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
    const p = await f.connected();
    await f.submitJob({ tasks: 1 });
    await f.work.dispatch();
    await f.idle();
    const lease = p.assigned()[0]!;
    const canary = await f.db
      .selectFrom('canary_assignments')
      .select(['task_id'])
      .where('id', '=', lease.assignmentId)
      .executeTakeFirst();
    assert.ok(canary, 'the probation slot went to a canary');
    const signed = await p.commit(lease, output(3), `0x${randomBytes(32).toString('hex')}` as Hex);
    await handleCommit(f.state, f.work, p.address, signed);
    await handleFailure(f.state, f.work, p.address, await p.failure(lease));
    const provider = p.address.toLowerCase();
    const faults = await f.db
      .selectFrom('verification_faults')
      .selectAll()
      .where('provider', '=', provider)
      .execute();
    assert.deepEqual(
      faults.map((x) => ({ kind: x.kind, task: x.task_id })),
      [{ kind: 'bad-reveal', task: canary.task_id }],
      'one bad-reveal fault on the canary task',
    );
    const evidence = JSON.parse(faults[0]!.evidence) as Record<string, unknown>;
    assert.deepEqual(
      evidence,
      {
        taskId: canary.task_id,
        kind: 'bad-reveal',
        agreeing: [],
        digests: {},
        reasons: [`signed commitment ${signed.commitment} withdrawn without a reveal`],
      },
      'the evidence a real withdrawn commitment carries (leases.ts failAttempt)',
    );
    const slashes = await f.db
      .selectFrom('slashes')
      .select(['task_id', 'evidence'])
      .where('provider', '=', provider)
      .execute();
    assert.equal(slashes.length, 1, 'the fault is slashed');
    assert.equal(slashes[0]!.task_id, canary.task_id, 'on the canary task');
    // The signed commitment validators check a bad-reveal slash against (readEpochFacts.ts).
    const commitments = await f.db
      .selectFrom('task_commitments')
      .select('commitment')
      .where('task_id', '=', canary.task_id)
      .where('provider', '=', provider)
      .execute();
    assert.deepEqual(
      commitments.map((c) => c.commitment),
      [signed.commitment],
      'the commitment is kept as evidence',
    );
    const journal = await f.db
      .selectFrom('reputation_journal')
      .select('kind')
      .where('provider', '=', provider)
      .execute();
    assert.ok(
      journal.some((e) => e.kind === 'fault'),
      'a fault is journaled',
    );
    assert.ok(!journal.some((e) => e.kind === 'timeout'), 'not a timeout');
    // Published as a real verdict's fault is: on the (shadow) job's stream, kind bad-reveal.
    const shadow = await f.db
      .selectFrom('shadow_jobs')
      .select('id')
      .where('lease_id', '=', lease.assignmentId)
      .executeTakeFirstOrThrow();
    const faulted = await f.db
      .selectFrom('events')
      .select(['job_id', 'data'])
      .where('type', '=', 'provider.faulted')
      .execute();
    assert.equal(faulted.length, 1, 'one provider.faulted event');
    assert.equal(faulted[0]!.job_id, shadow.id, 'on the shadow job, not the network stream');
    assert.equal(JSON.parse(faulted[0]!.data).kind, 'bad-reveal', 'kind bad-reveal, as a real one');
  } finally {
    await f.close();
  }
});
