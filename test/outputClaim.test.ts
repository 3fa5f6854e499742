/**
 * A provider may not claim another account's blob as its output (security review s10 F1): a
 * client running its own provider named the cid of a victim's private output (cids are public in
 * GET /v1/jobs/:id) in its signed result; the coordinator only checked that the blob existed and
 * parsed, so the victim's bytes became the output of the attacker's public job, readable by anyone.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../src/protocol/eip712.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { connectRawProvider, signedResult } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
});
after(async () => {
  await c.cleanup();
});

const deadline = () => Math.floor(Date.now() / 1000) + 300;

test("a provider's result naming another client's private output is refused, and no read rule opens it", async () => {
  const modelBytes = new Uint8Array(await readFile(ppocrDetectionModelPath()));
  // The victim: a private job, run by an honest provider that uploads its output.
  const victim = createClient({ url: c.url, account: randomAccount() });
  const vModel = (await victim.uploadBlob(modelBytes)).cid;
  const vInput = (await victim.uploadBlob(encodeSafetensors(ocrInput(4242)))).cid;
  const { jobId: vJob } = await victim.submitJob({
    kind: 'onnx.infer',
    model: vModel,
    inputs: [vInput],
    deadline: deadline(),
    verification: { policy: 'none' },
  });
  const honest = await connectRawProvider(c.url, randomAccount());
  const hAssign = await honest.next('assign', 60_000);
  assert.equal((await leaseTask(c.store.db, hAssign)).jobId, vJob);
  assert.equal((await honest.deliver(hAssign, ocrInput(999))).accepted, true, 'the honest result is taken');
  await honest.close();
  assert.equal((await victim.waitForJob(vJob)).status, 'completed');
  // The attacker is assumed to know the cid (job task views are the client's own since issue 15's
  // shadow jobs, but a cid is no secret: an input's is known to every provider that ran it).
  const stolen = (await victim.getJob(vJob)).tasks[0]?.output as string;
  assert.match(stolen, /^[0-9a-f]{64}$/, 'the private output cid');

  // The attacker: a public job of its own, leased to its own provider.
  const attackerAcct = randomAccount();
  const attacker = createClient({ url: c.url, account: attackerAcct });
  const aModel = (await attacker.uploadBlob(modelBytes)).cid;
  const aInput = (await attacker.uploadBlob(encodeSafetensors(ocrInput(7)))).cid;
  const { jobId: aJob } = await attacker.submitJob({
    kind: 'onnx.infer',
    model: aModel,
    inputs: [aInput],
    deadline: deadline(),
    verification: { policy: 'none' },
    public: true,
  });
  const prov = await connectRawProvider(c.url, randomAccount());
  try {
    const assign = await prov.next('assign', 60_000);
    assert.equal((await leaseTask(c.store.db, assign)).jobId, aJob);
    prov.ws.send(JSON.stringify(await signedResult(prov.account, prov.account.address, assign, stolen)));
    const ack = await prov.next('ack');
    assert.deepEqual(
      [ack.accepted, ack.code],
      [false, 'PLX_OUTPUT_NOT_UPLOADED'],
      `a cid the provider did not upload is no output of its (ack ${JSON.stringify(ack)})`,
    );
    const job = await attacker.getJob(aJob);
    assert.equal(job.status, 'running', 'the refused result changed nothing');
    const unsigned = await fetch(`${c.url}/v1/blobs/${stolen}`);
    assert.equal(unsigned.status, 401, 'the victim output stays private');

    // The read rules on their own: a task row pointing at the victim's blob (as the old code
    // stored it) opens it neither to everyone (public job) nor to the job's client.
    const task = await c.store.db
      .selectFrom('tasks')
      .select(['id'])
      .where('job_id', '=', aJob)
      .executeTakeFirstOrThrow();
    await c.store.db
      .insertInto('task_executions')
      .values({
        assignment_id: assign.assignmentId as string,
        task_id: task.id,
        provider: prov.account.address.toLowerCase(),
        output_cid: stolen,
        output_digest: `0x${'00'.repeat(32)}`,
        salt: `0x${'00'.repeat(32)}`,
        result: '{}',
        created_at: Date.now(),
      })
      .execute();
    await c.store.db.updateTable('tasks').set({ output_cid: stolen }).where('id', '=', task.id).execute();
    const anyone = await fetch(`${c.url}/v1/blobs/${stolen}`);
    assert.equal(anyone.status, 401, "a public job's output row naming another's blob opens it to nobody");
    const asClient = await fetch(`${c.url}/v1/blobs/${stolen}`, {
      headers: { [BLOB_AUTH_HEADER]: await signBlobAuth(attackerAcct, 31337, { cid: stolen }) },
    });
    assert.equal(asClient.status, 403, "nor to the attacker's job's client");
    // The victim still reads its own output.
    assert.equal((await victim.downloadBlob(stolen)).byteLength > 0, true, 'the victim reads its output');
  } finally {
    await prov.close();
  }
});
