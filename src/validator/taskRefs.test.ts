/**
 * Provider statements since protocol v3 are signed over the lease's opaque reference (its
 * assignment id), earlier ones over the task id (src/protocol/taskRef.ts): a validator accepts
 * either, and nothing else — a statement signed over another lease's reference recovers nobody.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import { signedTaskRefs, taskRefOf, verifyTaskSigned } from '../protocol/taskRef.ts';
import { checkFacts } from './checkFacts.ts';
import { CHAIN_ID, honestEpoch, provider, providerKey } from './factsFixture.ts';

/** Re-signs the fixture's charged result over `ref` as the `taskId` field. */
async function resignCharge(e: Awaited<ReturnType<typeof honestEpoch>>, ref: Hex): Promise<void> {
  const c = e.facts.charges[0]!;
  c.result.signature = await signPlexusMessage(providerKey, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId: c.assignmentId,
    taskId: ref,
    outputCid: cidToBytes32(c.result.outputCid),
    wallMs: BigInt(c.result.usage.wallMs),
    cpuMs: BigInt(c.result.usage.cpuMs),
    peakRssBytes: BigInt(c.result.usage.peakRssBytes),
    issuedAt: BigInt(c.result.issuedAt),
  });
}

test('the opaque reference is the assignment id; the task id is tried second, and only when it differs', () => {
  const lease = `0x${'A1'.repeat(32)}`;
  const task = `0x${'72'.repeat(32)}`;
  assert.equal(taskRefOf(lease), lease.toLowerCase());
  assert.deepEqual(signedTaskRefs(lease, task), [lease.toLowerCase(), task]);
  assert.deepEqual(signedTaskRefs(lease, lease), [lease.toLowerCase()]);
});

test('verifyTaskSigned resolves on the first reference that verifies and rejects with the first error', async () => {
  const tried: string[] = [];
  await verifyTaskSigned('0xaa', '0xbb', async (ref) => {
    tried.push(ref);
    if (ref !== '0xbb') throw new Error(`not ${ref}`);
  });
  assert.deepEqual(tried, ['0xaa', '0xbb']);
  await assert.rejects(
    verifyTaskSigned('0xaa', '0xbb', async (ref) => {
      throw new Error(`not ${ref}`);
    }),
    /not 0xaa/,
  );
});

test('a v3 epoch (results and commitments over the lease ids) checks; so does one signed over task ids', async () => {
  const v3 = await honestEpoch();
  assert.equal(await checkFacts(v3.facts, v3.inputs, CHAIN_ID), null, 'the fixture signs as a v3 agent');
  const legacy = await honestEpoch();
  await resignCharge(legacy, legacy.facts.charges[0]!.taskId);
  assert.equal(await checkFacts(legacy.facts, legacy.inputs, CHAIN_ID), null, 'a pre-v3 statement');
});

test("a result signed over another lease's reference, or over nothing of this lease, is no one's", async () => {
  for (const ref of [`0x${'a9'.repeat(32)}`, `0x${'00'.repeat(32)}`] as Hex[]) {
    const e = await honestEpoch();
    await resignCharge(e, ref);
    const dispute = await checkFacts(e.facts, e.inputs, CHAIN_ID);
    assert.match(dispute?.fact ?? '', /^charge\[exec:0x.*\]\.signature$/, `signed over ${ref}`);
  }
});
