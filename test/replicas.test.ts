/**
 * Two coordinator replicas on one PostgreSQL database, as real OS processes with data folders of
 * their own (nothing shared but the database): three scripted providers on each, the model and
 * inputs uploaded to replica A, jobs submitted to replica B. Both replicas lease tasks of the same
 * jobs at once (another replica's events wake a replica's dispatch), and no task is leased twice;
 * a provider on B reads inputs uploaded to A (blob chunks in PostgreSQL); a client following a job
 * on A's event stream gets every event of the job, B's included, in id order with no gap.
 * With CI=true an unreachable PostgreSQL fails this test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { generatePrivateKey } from 'viem/accounts';
import { createClient, type JobEvent } from '../src/client/createClient.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { ppocrDetectionModelPath } from '../src/devnet/runDemo.ts';
import type { NodeChild } from '../src/devnet/spawnNode.ts';
import { privateKeyToNativeAccount } from '../src/protocol/eip712.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';
import { doubleLeases, metricOf, startFleet, startReplica, tinyInput } from './helpers/replicas.ts';

const skip = await postgresSkip();
const TASKS = 60;

test('two replicas on one PostgreSQL database share jobs, blobs and events, and never lease a task twice', {
  skip,
}, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const children: NodeChild[] = [];
  const store = await openStore({ url: database.url });
  try {
    const [a, b] = await Promise.all([
      startReplica('a', dir, database.url),
      startReplica('b', dir, database.url),
    ]);
    children.push(a.child, b.child);
    children.push(...(await Promise.all([startFleet('a', a.url, 3), startFleet('b', b.url, 3)])));
    const account = privateKeyToNativeAccount(generatePrivateKey());
    const onA = createClient({ url: a.url, account });
    const onB = createClient({ url: b.url, account });
    const model = await onA.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    const inputs: string[] = [];
    for (let i = 0; i < TASKS; i += 20)
      inputs.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, async (_, k) => (await onA.uploadBlob(tinyInput(i + k))).cid),
        )),
      );
    const before = {
      a: await metricOf(a.url, 'assignments_total'),
      b: await metricOf(b.url, 'assignments_total'),
    };

    // Submitted to B (which inspects the model A received), followed on A's stream.
    const deadline = Math.floor(Date.now() / 1000) + 3600;
    const plain = await onB.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs,
      deadline,
      verification: { policy: 'none' },
    });
    const audited = await onB.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: inputs.slice(0, 20),
      deadline,
    });
    // Redundant: a task stays queued while it wants executions, so the lease is conditional on
    // the attempt count as well; three providers per task, never one twice.
    const redundant = await onB.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: inputs.slice(20, 40),
      deadline,
      verification: { policy: 'redundant', k: 3 },
    });
    const streamed: JobEvent[] = [];
    const [plainJob, auditedJob, redundantJob] = await Promise.all([
      onA.waitForJob(plain.jobId, (e) => streamed.push(e)),
      onA.waitForJob(audited.jobId),
      onB.waitForJob(redundant.jobId),
    ]);
    assert.equal(plainJob.status, 'completed');
    assert.equal(auditedJob.status, 'completed');
    assert.equal(redundantJob.status, 'completed', JSON.stringify(redundantJob).slice(0, 3000));

    // Both replicas leased tasks; each task of the plain job exactly once, and nobody twice.
    const leased = {
      a: (await metricOf(a.url, 'assignments_total')) - before.a,
      b: (await metricOf(b.url, 'assignments_total')) - before.b,
    };
    const lost = (await metricOf(a.url, 'leases_lost_total')) + (await metricOf(b.url, 'leases_lost_total'));
    console.error(`leases: replica A ${leased.a}, replica B ${leased.b}; races lost ${lost}`);
    assert.ok(leased.a > 0 && leased.b > 0, `both replicas leased (${leased.a}, ${leased.b})`);
    const perTask = await store.db
      .selectFrom('assignments')
      .select(['task_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', plain.jobId)
      .groupBy('task_id')
      .execute();
    assert.equal(perTask.length, TASKS);
    assert.deepEqual(
      perTask.filter((r) => Number(r.n) !== 1),
      [],
      'one assignment per task',
    );
    assert.deepEqual(await doubleLeases(store.db, plain.jobId), []);
    assert.deepEqual(await doubleLeases(store.db, audited.jobId), []);
    assert.deepEqual(await doubleLeases(store.db, redundant.jobId), []);
    const redundantPerTask = await store.db
      .selectFrom('assignments')
      .select(['task_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', redundant.jobId)
      .groupBy('task_id')
      .execute();
    assert.deepEqual(
      redundantPerTask.filter((r) => Number(r.n) !== 3),
      [],
      'three executions per redundant task',
    );

    // A's stream carried the whole job, in id order, exactly the rows in the database.
    const rows = await store.db
      .selectFrom('events')
      .select(['id', 'type'])
      .where('job_id', '=', plain.jobId)
      .orderBy('id')
      .execute();
    const end = rows.findIndex((r) => r.type === 'job.completed');
    assert.deepEqual(
      streamed.map((e) => [e.id, e.type]),
      rows.slice(0, end + 1).map((r) => [r.id, r.type]),
    );
    assert.equal(streamed.filter((e) => e.type === 'task.completed').length, TASKS);
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop(10_000)));
    await store.close();
    await database.drop();
    await cleanup();
  }
});
