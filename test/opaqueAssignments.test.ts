/**
 * Opaque per-assignment ids (issue 15, protocol v3): two scripted providers over the real
 * WebSocket, against a real coordinator, run one redundant task. Nothing either receives names the
 * task or its job: each sees only its own assignment's id, which it signs over; the coordinator
 * maps it back, accepts and verifies the results, and a validator recovers each signature and binds
 * it to the task through the lease. A statement signed over the real task id (the scheme before
 * v3) or over another assignment's id is refused with a stable code.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { createClient } from '../src/client/createClient.ts';
import { startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { verifyReveal } from '../src/protocol/commitment.ts';
import { BLOB_AUTH_HEADER } from '../src/protocol/eip712.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { signedBy } from '../src/validator/checkCompensations.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, tempDir } from './helpers/fixtures.ts';
import { connectRawProvider, type Msg, type RawProvider, signedResult } from './helpers/rawProvider.ts';
import { trustProvider } from './helpers/trustedProvider.ts';

const out = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5, 0.25, 0.125, 1]) },
});

/** Sends `msg` on `p`'s socket and waits for the ack of its assignment. */
async function refused(p: RawProvider, msg: Msg): Promise<Msg> {
  p.ws.send(JSON.stringify(msg));
  const ack = await p.next('ack', 30_000);
  assert.equal(ack.accepted, false, `refused: ${JSON.stringify(ack)}`);
  return ack;
}

test('providers see opaque per-assignment ids only; results signed over them are accepted and verifiable, others refused', async () => {
  const { dir, cleanup } = await tempDir('plexus-opaque-ids-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  const coord = await startCoordinator(
    { dataDir: dir, port: 0, sweepIntervalMs: 100, canaryRate: 0 },
    { log },
  );
  const url = coord.url;
  const db = coord.store.db;
  const open: RawProvider[] = [];
  try {
    // A redundant round seats a trusted member when one is online: one veteran, one newcomer.
    const veteran = randomAccount();
    await trustProvider(db, veteran.address);
    const [p1, p2] = await Promise.all([veteran, randomAccount()].map((a) => connectRawProvider(url, a)));
    open.push(p1!, p2!);
    const client = createClient({ url, account: randomAccount() });
    const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    const input = await client.uploadBlob(encodeSafetensors(ocrInput(5, 32, 32)));
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [input.cid],
      deadline: Math.floor(Date.now() / 1000) + 600,
      verification: { policy: 'redundant', k: 2 },
    } as Parameters<typeof client.submitJob>[0]);
    const [m1, m2] = (await Promise.all([p1!.next('assign', 60_000), p2!.next('assign', 60_000)])) as [
      Msg,
      Msg,
    ];

    // The coordinator's own mapping: both leases are of the job's one task.
    const leaseOf = (m: Msg) =>
      db
        .selectFrom('assignments')
        .select(['task_id', 'job_id', 'provider'])
        .where('id', '=', m.assignmentId as string)
        .executeTakeFirstOrThrow();
    const [l1, l2] = await Promise.all([leaseOf(m1), leaseOf(m2)]);
    assert.equal(l1.job_id, jobId);
    assert.equal(l1.task_id, l2.task_id, 'both execute the one task');
    const taskId = l1.task_id;
    assert.notEqual(m1.assignmentId, m2.assignmentId, 'each execution has an id of its own');
    for (const m of [m1, m2]) {
      assert.equal(m.taskId, m.assignmentId, 'the task reference is the assignment id');
      assert.equal('jobId' in m, false, 'no job id');
    }

    // The lease token reads the task's blobs: no job id needed anywhere.
    const read = await fetch(`${url}/v1/blobs/${m1.input as string}`, {
      headers: { [BLOB_AUTH_HEADER]: m1.readToken as string },
    });
    assert.equal(read.status, 200, 'the lease token opens the input');
    await read.arrayBuffer();

    // Refused, with stable codes (nothing changes): the real task id (signed so: the scheme before
    // v3), the co-executor's assignment id, and the co-executor's lease itself.
    const withRef = (m: Msg, ref: string): Msg => ({ ...m, taskId: ref });
    const cid = input.cid;
    assert.equal(
      (await refused(p1!, await signedResult(p1!.account, p1!.account.address, withRef(m1, taskId), cid)))
        .code,
      'PLX_TASK_REF_MISMATCH',
    );
    assert.equal(
      (
        await refused(
          p1!,
          await signedResult(p1!.account, p1!.account.address, withRef(m1, m2.assignmentId as string), cid),
        )
      ).code,
      'PLX_TASK_REF_MISMATCH',
    );
    assert.equal(
      (await refused(p1!, await signedResult(p1!.account, p1!.account.address, m2, cid))).code,
      'PLX_STALE_ASSIGNMENT',
    );
    await p1!.commit(withRef(m1, taskId), out());
    assert.equal(
      (await p1!.next('ack', 30_000)).code,
      'PLX_TASK_REF_MISMATCH',
      'a commitment over the task id',
    );

    // Honest: commit over the opaque id, reveal when told, deliver; both accepted.
    const [o1, o2] = await Promise.all([p1!.commit(m1, out()), p2!.commit(m2, out())]);
    await Promise.all([p1!.next('reveal', 60_000), p2!.next('reveal', 60_000)]);
    const acks = await Promise.all([p1!.deliver(m1, out(), o1), p2!.deliver(m2, out(), o2)]);
    for (const ack of acks) assert.equal(ack.accepted, true, `accepted (${String(ack.code)})`);
    assert.equal((await client.waitForJob(jobId)).status, 'completed');

    // Nothing either provider received, from its hello to its last ack, names the task or the job.
    for (const p of [p1!, p2!]) {
      const all = JSON.stringify(p.received).toLowerCase();
      assert.ok(all.includes((p === p1 ? m1 : m2).assignmentId as string), 'its own assignment id');
      assert.ok(!all.includes(taskId.slice(2).toLowerCase()), 'never the task id');
      assert.ok(!all.includes(jobId.slice(2).toLowerCase()), 'never the job id');
      // (An ack echoes the id the provider itself sent: p1 named p2's lease in a forged result above.)
      const unasked = JSON.stringify(p.received.filter((m) => m.type !== 'ack'));
      assert.ok(
        !unasked.includes(((p === p1 ? m2 : m1).assignmentId as string).slice(2)),
        'nor the other lease',
      );
    }

    // What a validator checks: each stored result and commitment, named by lease and task, is the
    // provider's signature over its opaque id; moved to the other lease, it is nobody's.
    const execs = await db
      .selectFrom('task_executions')
      .select(['assignment_id', 'provider', 'output_cid', 'output_digest', 'salt', 'result'])
      .where('task_id', '=', taskId)
      .execute();
    assert.equal(execs.length, 2);
    for (const e of execs) {
      const r = JSON.parse(e.result) as { usage: unknown; issuedAt: number; signature: string };
      const signed = { assignmentId: e.assignment_id, taskId, outputCid: e.output_cid, ...r };
      assert.equal(await signedBy(31337, e.provider, signed), null, 'recovered and bound to the task');
      const other = execs.find((x) => x !== e)!;
      assert.notEqual(
        await signedBy(31337, e.provider, { ...signed, assignmentId: other.assignment_id }),
        null,
        "another lease's id does not carry it",
      );
      const c = await db
        .selectFrom('task_commitments')
        .select(['commitment', 'task_id'])
        .where('assignment_id', '=', e.assignment_id)
        .executeTakeFirstOrThrow();
      assert.equal(c.task_id, taskId);
      const reveal = { outputDigest: e.output_digest as Hex, salt: e.salt as Hex };
      const args = { provider: e.provider as Hex, commitment: c.commitment as Hex, reveal };
      assert.ok(verifyReveal({ ...args, taskId: e.assignment_id }), 'the commitment opens over the lease id');
      assert.ok(!verifyReveal({ ...args, taskId }), 'not over the task id');
    }
  } finally {
    await Promise.all(open.map((p) => p.close()));
    await coord.stop();
    await cleanup();
  }
});
