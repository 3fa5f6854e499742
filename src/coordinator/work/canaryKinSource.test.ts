/**
 * Review s13 F4 (issue 15): a canary reuses its source task's input cid, and the draw excluded only
 * the source's own executors, so a ring pooling the input cids its members were assigned told a
 * fresh member's probation canaries apart. Now a canary whose source task a network or funder kin
 * of the provider executed is not drawn for it (the kinship rule of a review's checker). On the
 * old code the kin newcomer got the canary.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { BURST_WINDOW_MS } from './kinship.ts';
import { providerConnected } from './sessions.ts';
import { output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

async function connectFrom(f: Fixture, ip: string): Promise<ScriptedProvider> {
  const p = await f.provider();
  await providerConnected(f.state, f.work, p.link, { ...p.hello(1), remoteAddress: ip });
  return p;
}

/** Records `provider` as an executor of task `taskId` (it saw the task's input cid). */
async function executed(f: Fixture, taskId: string, provider: string): Promise<void> {
  await f.db
    .insertInto('task_executions')
    .values({
      assignment_id: `0x${randomBytes(32).toString('hex')}`,
      task_id: taskId,
      provider,
      output_cid: f.put(randomBytes(8)),
      output_digest: `0x${'00'.repeat(32)}`,
      salt: `0x${'00'.repeat(32)}`,
      result: '{}',
      created_at: f.clock.t,
    })
    .execute();
}

/** Adds a live canary made of task `source`; returns its id. */
async function addCanary(f: Fixture, source: string): Promise<string> {
  const id = `canary-${randomBytes(4).toString('hex')}`;
  await f.db
    .insertInto('canary_tasks')
    .values({
      id,
      source_task_id: source,
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
  return id;
}

const realLeases = async (f: Fixture, provider: string) =>
  (await f.db.selectFrom('assignments').select('id').where('provider', '=', provider).execute()).length;

const canaryLeases = async (f: Fixture, provider: string) =>
  (await f.db.selectFrom('canary_assignments').select('id').where('provider', '=', provider).execute())
    .length;

test('a canary whose source task a network kin of the provider executed is not drawn for it; an unrelated newcomer gets it', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const ring = await connectFrom(f, '203.0.113.7');
    const { taskIds } = await f.submitJob();
    const source = taskIds[0]!;
    // The ring member executed the source task (it saw its input cid).
    await f.db
      .insertInto('task_executions')
      .values({
        assignment_id: `0x${randomBytes(32).toString('hex')}`,
        task_id: source,
        provider: ring.address,
        output_cid: f.put(randomBytes(8)),
        output_digest: `0x${'00'.repeat(32)}`,
        salt: `0x${'00'.repeat(32)}`,
        result: '{}',
        created_at: f.clock.t,
      })
      .execute();
    await f.db
      .insertInto('canary_tasks')
      .values({
        id: `canary-${randomBytes(4).toString('hex')}`,
        source_task_id: source,
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
    f.clock.t += BURST_WINDOW_MS + 1;
    const sybil = await connectFrom(f, '203.0.113.99');
    const stranger = await connectFrom(f, '198.51.100.5');
    await f.submitJob({ tasks: 4 }); // slots to fill: a canary takes a slot reserved for work
    await f.work.dispatch();
    await f.idle();
    assert.equal(await canaryLeases(f, sybil.address), 0, 'the ring’s newcomer is not given the canary');
    assert.equal(await canaryLeases(f, stranger.address), 1, 'an unrelated newcomer is');
  } finally {
    await f.close();
  }
});

test('review s13 F3: a kin-sourced canary stocked oldest does not hand a probation newcomer real work while an eligible canary is left', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const ring = await connectFrom(f, '203.0.113.7');
    const { taskIds } = await f.submitJob();
    await executed(f, taskIds[0]!, ring.address);
    const kinCanary = await addCanary(f, taskIds[0]!);
    const clean = await addCanary(f, `0x${randomBytes(32).toString('hex')}`);
    // The ring keeps a stocked shadow job of its kin-sourced canary the oldest (the one looked at first).
    await f.db
      .insertInto('shadow_pending')
      .values({
        id: `0x${randomBytes(32).toString('hex')}`,
        canary_id: kinCanary,
        client: `0x${randomBytes(20).toString('hex')}`,
        kind: 'inference',
        spec: '{}',
        created_at: f.clock.t,
      })
      .execute();
    f.clock.t += BURST_WINDOW_MS + 1;
    const sybil = await connectFrom(f, '203.0.113.99');
    await f.submitJob({ tasks: 1 });
    await f.work.dispatch();
    await f.idle();
    assert.equal(await realLeases(f, sybil.address), 0, 'the probation newcomer gets no client task');
    const leased = await f.db
      .selectFrom('canary_assignments')
      .select('canary_id')
      .where('provider', '=', sybil.address)
      .execute();
    assert.deepEqual(
      leased.map((r) => r.canary_id),
      [clean],
      'it gets the canary no kin of it sourced, not the kin-sourced stocked one',
    );
  } finally {
    await f.close();
  }
});
