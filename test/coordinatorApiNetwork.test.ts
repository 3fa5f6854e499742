/**
 * A job signature is bound to one coordinator network (issue 16, item 6): the EIP-712 domain of
 * `JobSubmission` carries the network's `verifyingContract` (the escrow address, or in development
 * mode a per-coordinator network id from GET /v1/health), so a job signed for coordinator A is
 * refused by coordinator B on the same chain, and a job signed with the bare chain id (which every
 * coordinator of the chain accepted before) is refused everywhere.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { signJobSubmission } from '../src/client/signJobSubmission.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';

type C = Awaited<ReturnType<typeof testCoordinator>>;
let a: C;
let b: C;
const account = randomAccount();

before(async () => {
  [a, b] = await Promise.all([testCoordinator(), testCoordinator()]);
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

/** Uploads the model and one input to `c` as `account`; returns a spec naming them. */
async function specOn(c: C) {
  const sdk = createClient({ url: c.url, account });
  const model = await sdk.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await sdk.uploadBlob(encodeSafetensors(ocrInput(1)));
  return {
    kind: 'onnx.infer' as const,
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 600,
  };
}

async function submit(c: C, body: unknown) {
  const res = await fetch(`${c.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string }; jobId?: string } };
}

test('a job signed for coordinator A is refused by coordinator B of the same chain, and accepted by A', async () => {
  const healthA = (await (await fetch(`${a.url}/v1/health`)).json()) as {
    chainId: number;
    verifyingContract: `0x${string}`;
  };
  const healthB = (await (await fetch(`${b.url}/v1/health`)).json()) as typeof healthA;
  assert.equal(healthA.chainId, healthB.chainId, 'both coordinators are on one chain');
  assert.match(healthA.verifyingContract, /^0x[0-9a-fA-F]{40}$/);
  assert.notEqual(
    healthA.verifyingContract,
    healthB.verifyingContract,
    'each dev coordinator has its own network id',
  );
  const [specA] = await Promise.all([specOn(a), specOn(b)]);

  const signed = await signJobSubmission(
    account,
    { chainId: healthA.chainId, verifyingContract: healthA.verifyingContract },
    specA,
  );
  const onB = await submit(b, signed);
  assert.equal(onB.status, 401);
  assert.equal(onB.body.error?.code, 'PLX_BAD_SIGNATURE');
  const onA = await submit(a, signed);
  assert.equal(onA.status, 201, JSON.stringify(onA.body));

  // The old domain (chain id only) named no coordinator, so one signature was good on all of them.
  const bare = await signJobSubmission(account, healthA.chainId, specA);
  for (const c of [a, b]) {
    const res = await submit(c, bare);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'PLX_BAD_SIGNATURE');
  }
  // The network id survives a restart: it is kept in the store.
  const again = (await (await fetch(`${a.url}/v1/health`)).json()) as typeof healthA;
  assert.equal(again.verifyingContract, healthA.verifyingContract);
});

test('the SDK learns the domain from the coordinator and its jobs are accepted', async () => {
  const spec = await specOn(a);
  const sdk = createClient({ url: a.url, account });
  const { jobId } = await sdk.submitJob(spec);
  assert.match(jobId, /^0x[0-9a-f]{64}$/);
});
