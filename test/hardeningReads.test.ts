/**
 * Issue 16, private reads without a signature per read, and validators' reads:
 * - each assignment carries a lease token; with it the provider reads exactly its task's model and
 *   input (nothing else), only while it holds the lease; a forged or tampered token is refused;
 * - a validator of the coordinator's set reads exactly the blobs a closed epoch's evidence refers
 *   to, by an ordinary signed BlobRead; other blobs and other keys are refused.
 * A real coordinator on loopback (SQLite store, HTTP, the provider WebSocket), a scripted provider.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { LocalAccount } from 'viem';
import { createClient } from '../src/client/createClient.ts';
import { createBlobAccess, DEFAULT_BLOB_QUOTA } from '../src/coordinator/blobs/blobAccess.ts';
import { createValidatorReads } from '../src/coordinator/blobs/validatorReads.ts';
import { packString } from '../src/coordinator/settlement/compactFacts.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../src/protocol/eip712.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
});
after(async () => {
  await c?.cleanup();
});

const cidOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** GET /v1/blobs/:cid with `auth` as x-plexus-auth: status and, on 200, the bytes' cid. */
async function read(
  cid: string,
  auth?: string,
): Promise<{ status: number; code?: string | undefined; cid?: string }> {
  const res = await fetch(`${c.url}/v1/blobs/${cid}`, { headers: auth ? { [BLOB_AUTH_HEADER]: auth } : {} });
  if (res.status === 200) return { status: 200, cid: cidOf(new Uint8Array(await res.arrayBuffer())) };
  return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
}

test("an assignment's lease token reads its model and input while the lease holds, and nothing else", async () => {
  const client = createClient({ url: c.url, account: randomAccount() });
  const model = (await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())))).cid;
  const input = (await client.uploadBlob(encodeSafetensors(ocrInput(31)))).cid;
  const unrelated = (await client.uploadBlob(encodeSafetensors(ocrInput(32)))).cid;
  const stranger = (
    await createClient({ url: c.url, account: randomAccount() }).uploadBlob(encodeSafetensors(ocrInput(33)))
  ).cid;
  const provider = await connectRawProvider(c.url, randomAccount());
  try {
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model,
      inputs: [input],
      deadline: Math.floor(Date.now() / 1000) + 300,
      verification: { policy: 'none' },
    });
    const assign = await provider.next('assign', 60_000);
    const token = assign.readToken;
    assert.equal(typeof token, 'string', 'the assignment carries a lease token');
    assert.match(String(token), /^cap1\./);
    assert.deepEqual(await read(model, String(token)), { status: 200, cid: model });
    assert.deepEqual(await read(input, String(token)), { status: 200, cid: input });
    // The client's other blob and someone else's: the lease does not need them.
    for (const cid of [unrelated, stranger])
      assert.deepEqual(await read(cid, String(token)), { status: 403, code: 'PLX_BLOB_FORBIDDEN' });
    // One character of the MAC changed, or another provider's address put in: forged.
    const t = String(token);
    const flipped = `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`;
    const otherProvider = t.replace(/^cap1\.0x[0-9a-f]{40}/, `cap1.${randomAccount().address.toLowerCase()}`);
    for (const forged of [flipped, otherProvider])
      assert.deepEqual(await read(input, forged), { status: 403, code: 'PLX_BLOB_FORBIDDEN' });

    assert.equal((await provider.deliver(assign, ocrInput(1))).accepted, true);
    await client.waitForJob(jobId, undefined, AbortSignal.timeout(60_000));
    // The lease ended with the result: the token opens nothing any more.
    assert.deepEqual(await read(input, t), { status: 403, code: 'PLX_BLOB_FORBIDDEN' });
  } finally {
    await provider.close();
  }
});

test("a validator of the coordinator's set reads exactly the blobs a closed epoch's evidence refers to", async () => {
  const validator = randomAccount();
  const owner = createClient({ url: c.url, account: randomAccount() });
  const inEvidence = (await owner.uploadBlob(encodeSafetensors(ocrInput(41)))).cid;
  const notInEvidence = (await owner.uploadBlob(encodeSafetensors(ocrInput(42)))).cid;
  const packed = (await owner.uploadBlob(encodeSafetensors(ocrInput(43)))).cid;
  // An epoch's bundle naming one output (the settlement writes it as canonical JSON).
  await c.store.db
    .insertInto('epoch_evidence')
    .values({
      epoch: 7,
      hash: `0x${'11'.repeat(32)}`,
      prev_hash: `0x${'00'.repeat(32)}`,
      // …and one packed as a version-3 bundle writes a charge's output (tagged base64url).
      body: JSON.stringify({
        version: 1,
        epoch: 7,
        inputs: { tasks: [{ output: inEvidence }] },
        facts: { charges: [['x', packString(packed)]] },
      }),
      created_at: Date.now(),
    })
    .execute();
  const access = createBlobAccess({
    store: c.store,
    db: c.store.db,
    chainId: 31337,
    quota: DEFAULT_BLOB_QUOTA,
    canRead: createValidatorReads({ store: c.store, validators: () => [validator.address] }),
  });
  const sign = (who: LocalAccount, cid: string) => signBlobAuth(who, 31337, { cid });
  await access.authorizeRead(await sign(validator, inEvidence), inEvidence);
  await access.authorizeRead(await sign(validator, packed), packed);
  await assert.rejects(access.authorizeRead(await sign(validator, notInEvidence), notInEvidence), {
    code: 'PLX_BLOB_FORBIDDEN',
  });
  await assert.rejects(access.authorizeRead(await sign(randomAccount(), inEvidence), inEvidence), {
    code: 'PLX_BLOB_FORBIDDEN',
  });
  await assert.rejects(access.authorizeRead(undefined, inEvidence), { code: 'PLX_AUTH_REQUIRED' });
});

test("a job naming another account's input is refused at intake, before any provider gets its bytes", async () => {
  // Review (stop 8): the job was admitted and the input, 64 KiB or less, went inline in the
  // attacker's provider's assignment although the blob read rule refused it (clientsBlobs.ts).
  const victim = createClient({ url: c.url, account: randomAccount() });
  const { cid } = await victim.uploadBlob(encodeSafetensors(ocrInput(42, 32, 32)));
  const attacker = createClient({ url: c.url, account: randomAccount() });
  const model = await attacker.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const deadline = Math.floor(Date.now() / 1000) + 120;
  await assert.rejects(
    attacker.submitJob({ kind: 'onnx.infer', model: model.cid, inputs: [cid], deadline }),
    {
      code: 'PLX_BLOB_FORBIDDEN',
    },
  );
  // The same bytes uploaded by the attacker itself are its own to name.
  const own = await attacker.uploadBlob(encodeSafetensors(ocrInput(42, 32, 32)));
  assert.equal(own.cid, cid);
  const { jobId } = await attacker.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [cid],
    deadline,
  });
  assert.match(jobId, /^0x[0-9a-f]{64}$/);
});
