/**
 * A hostile or broken provider on the coordinator's WebSocket: garbage, messages before the
 * challenge is answered, forged signatures, results for work it does not hold, outputs that are
 * not tensor files, oversized frames. Each is refused with a PLX_ code and none of them wedges the
 * coordinator; an honest session on the same coordinator still completes its job.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalAccount } from 'viem';
import { WebSocket } from 'ws';
import { createClient } from '../src/client/createClient.ts';
import { capabilitiesHash } from '../src/protocol/capabilities.ts';
import { signPlexusMessage } from '../src/protocol/eip712.ts';
import { cidOf } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { signedResult } from './helpers/rawProvider.ts';

type Msg = Record<string, unknown> & { type: string };
let c: Awaited<ReturnType<typeof testCoordinator>>;

before(async () => {
  c = await testCoordinator();
});
after(async () => {
  await c.cleanup();
});

const claim = {
  hardware: {
    cpuModel: 'test cpu',
    cpuCores: 2,
    memoryBytes: 8 * 1024 ** 3,
    gpus: [],
    executionProviders: ['cpu'],
  },
  slots: 1,
  region: 'eu-west',
  agentVersion: 'test',
};

/** A raw WebSocket session that records what the coordinator says. */
async function open(): Promise<{
  ws: WebSocket;
  next: (type?: string) => Promise<Msg>;
  closed: Promise<number>;
}> {
  const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/providers/ws`);
  const inbox: Msg[] = [];
  const waiters: { type: string | undefined; resolve: (m: Msg) => void }[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as Msg;
    const w = waiters.find((x) => x.type === undefined || x.type === m.type);
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    } else inbox.push(m);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r) => ws.once('open', r));
  return {
    ws,
    closed,
    next(type?: string) {
      const i = inbox.findIndex((m) => type === undefined || m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${type ?? 'message'} within 10 s`)), 10_000);
        waiters.push({
          type,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      });
    },
  };
}

async function authMessage(account: LocalAccount, challenge: `0x${string}`, signer: LocalAccount = account) {
  const issuedAt = Math.floor(Date.now() / 1000);
  const signature = await signPlexusMessage(signer, 31337, 'SessionAuth', {
    provider: account.address,
    challenge,
    capabilitiesHash: capabilitiesHash(claim),
    issuedAt: BigInt(issuedAt),
  });
  return { type: 'auth', provider: account.address, issuedAt, signature, ...claim };
}

test('garbage and messages before authentication are refused; the session is closed', async () => {
  const s = await open();
  await s.next('hello');
  s.ws.send('{not json');
  assert.equal((await s.next('error')).code, 'PLX_BAD_JSON');
  s.ws.send(JSON.stringify({ type: 'launch-missiles' }));
  assert.equal((await s.next('error')).code, 'PLX_VALIDATION');
  s.ws.send(JSON.stringify({ type: 'drain' }));
  assert.equal((await s.next('error')).code, 'PLX_UNAUTHORIZED');
  assert.equal(await s.closed, 1008);
});

test('a challenge signed by another key, or an old challenge, does not authenticate', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  s.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`, randomAccount())));
  assert.equal((await s.next('error')).code, 'PLX_BAD_SIGNATURE');
  assert.equal(await s.closed, 1008);
  // Replaying a signature made for an earlier session's challenge fails the same way.
  const s2 = await open();
  await s2.next('hello');
  s2.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`)));
  assert.equal((await s2.next('error')).code, 'PLX_BAD_SIGNATURE');
});

test('an oversized frame closes the session', async () => {
  const s = await open();
  await s.next('hello');
  s.ws.send('x'.repeat(300 * 1024));
  assert.equal(await s.closed, 1009);
});

test('forged, stale-assignment and malformed results are refused; an honest result completes the job', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  s.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`)));
  assert.equal((await s.next('welcome')).provider, me.address.toLowerCase());

  const client = createClient({ url: c.url, account: randomAccount() });
  const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(3)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 60,
  });
  const assign = await s.next('assign');
  assert.equal('jobId' in assign, false, 'an assign names no job (protocol v3)');
  assert.equal(assign.taskId, assign.assignmentId, 'only its own opaque id');
  assert.equal((await leaseTask(c.store.db, assign)).jobId, jobId);
  assert.equal(assign.model, model.cid);
  assert.equal(assign.inputBytes, undefined, 'an input over 64 KiB is downloaded, not sent inside');

  const output = encodeSafetensors({
    y: { dtype: 'float32', shape: [2], data: new Float32Array([0.5, 0.25]) },
  });
  // The output as the client would have it: the provider may not name bytes it did not upload.
  const clientsCopy = (await client.uploadBlob(output)).cid;
  assert.equal(clientsCopy, cidOf(output));
  const outputCid = clientsCopy;

  // Signed by a key that is not this session's provider.
  s.ws.send(JSON.stringify(await signedResult(randomAccount(), me.address, assign, outputCid)));
  let ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_BAD_SIGNATURE']);
  // A validly signed result for an assignment it does not hold (named by its own reference: a
  // wrong one is refused first, PLX_TASK_REF_MISMATCH, whatever the id names).
  const other = { ...assign, assignmentId: `0x${'ab'.repeat(32)}`, taskId: `0x${'ab'.repeat(32)}` };
  s.ws.send(JSON.stringify(await signedResult(me, me.address, other, outputCid)));
  ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_STALE_ASSIGNMENT']);
  // An output that was never uploaded, then one that is not a tensor file.
  s.ws.send(JSON.stringify(await signedResult(me, me.address, assign, 'c'.repeat(64))));
  ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_OUTPUT_NOT_UPLOADED'], 'a cid nobody stored');
  // Stored, but uploaded by someone else (the client): refused alike (security review s10 F1).
  s.ws.send(JSON.stringify(await signedResult(me, me.address, assign, outputCid)));
  ack = await s.next('ack');
  assert.deepEqual(
    [ack.accepted, ack.code],
    [false, 'PLX_OUTPUT_NOT_UPLOADED'],
    "another account's blob is no output of this provider's",
  );
  const mine = createClient({ url: c.url, account: me });
  const junk = (await mine.uploadBlob(new TextEncoder().encode('not tensors'))).cid;
  s.ws.send(JSON.stringify(await signedResult(me, me.address, assign, junk)));
  ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_BAD_TENSOR_FILE']);
  assert.equal((await client.getJob(jobId)).status, 'running', 'nothing above changed the job');
  assert.equal((await mine.uploadBlob(output)).cid, outputCid, 'the provider uploads the same bytes');

  s.ws.send(JSON.stringify(await signedResult(me, me.address, assign, outputCid)));
  ack = await s.next('ack');
  assert.equal(ack.accepted, true);
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed');
  const results = await client.jobResults(jobId);
  assert.equal(results.outputs[0]?.output, outputCid);
  assert.equal(results.outputs[0]?.provider, me.address.toLowerCase());
  // Delivering the same result again is refused: the assignment is finished.
  s.ws.send(JSON.stringify(await signedResult(me, me.address, assign, outputCid)));
  ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_STALE_ASSIGNMENT']);
  s.ws.close();
});

test('a tiny input comes inside the assignment; an output sent inside the result is stored under its cid; other bytes, or a forged result, store nothing', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  s.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`)));
  const welcome = await s.next('welcome');
  assert.equal(welcome.inlineOutputBytes, 64 * 1024, 'the welcome offers outputs inside results');

  const client = createClient({ url: c.url, account: randomAccount() });
  const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  // A tiny input: it travels inside the assignment (at most INLINE_INPUT_MAX_BYTES).
  const inputBytes = encodeSafetensors({
    x: { dtype: 'float32', shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32).fill(0.5) },
  });
  const input = await client.uploadBlob(inputBytes);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 60,
  });
  const assign = await s.next('assign');
  assert.equal(
    assign.inputBytes,
    Buffer.from(inputBytes).toString('base64'),
    'the tiny input is inside the assignment',
  );
  const output = encodeSafetensors({
    y: { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) },
  });
  const outputCid = cidOf(output);
  const inline = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const stored = async () =>
    (await c.store.db.selectFrom('blobs').select('cid').where('cid', '=', outputCid).executeTakeFirst()) !==
    undefined;

  // A forged result with the output inside: refused before anything is stored.
  const forged = await signedResult(randomAccount(), me.address, assign, outputCid);
  s.ws.send(JSON.stringify({ ...forged, output: inline(output) }));
  let ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_BAD_SIGNATURE']);
  // Bytes that do not hash to the signed cid.
  const honest = await signedResult(me, me.address, assign, outputCid);
  const other = encodeSafetensors({ y: { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 4]) } });
  s.ws.send(JSON.stringify({ ...honest, output: inline(other) }));
  ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_DIGEST_MISMATCH']);
  // More than the coordinator offered (the frame itself is within the WebSocket limit).
  s.ws.send(JSON.stringify({ ...honest, output: inline(new Uint8Array(64 * 1024 + 3)) }));
  assert.equal((await s.next('error')).code, 'PLX_VALIDATION');
  assert.equal(await stored(), false, 'no refused result stored its output');
  assert.equal((await client.getJob(jobId)).status, 'running', 'nothing above changed the job');

  s.ws.send(JSON.stringify({ ...honest, output: inline(output) }));
  ack = await s.next('ack');
  assert.equal(ack.accepted, true, `the honest result with its output inside is accepted: ${ack.code}`);
  assert.equal((await client.waitForJob(jobId)).status, 'completed');
  const results = await client.jobResults(jobId);
  assert.equal(results.outputs[0]?.output, outputCid);
  assert.deepEqual(
    new Uint8Array(await client.downloadBlob(outputCid)),
    output,
    'the client reads the bytes back',
  );
  assert.equal(await stored(), true, 'the output is stored (in its row: no file)');
  assert.equal(existsSync(join(c.dataDir, 'blobs', outputCid.slice(0, 2), outputCid)), false, 'no file');
  s.ws.close();
});

test('refused results count as strikes: forty forged-signature results close the session', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  s.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`)));
  await s.next('welcome');
  const fake = { type: 'assign', assignmentId: `0x${'cd'.repeat(32)}`, taskId: `0x${'ef'.repeat(32)}` };
  const forged = await signedResult(randomAccount(), me.address, fake, 'a'.repeat(64));
  for (let i = 0; i < 40; i++) s.ws.send(JSON.stringify(forged));
  const ack = await s.next('ack');
  assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_BAD_SIGNATURE']);
  // Issue 16: the session stayed open however many refusals it collected.
  const stillOpen = new Promise<string>((r) => setTimeout(() => r('still open after 30 s'), 30_000).unref());
  assert.equal(await Promise.race([s.closed, stillOpen]), 1008);
});

test('a provider back from a long disconnect may resend the results it listed in flight without strikes', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  // 30 leases it held before the link dropped; they have expired (here: were never leased at all).
  const held = Array.from({ length: 30 }, (_, i) => `0x${i.toString(16).padStart(64, '0')}`);
  s.ws.send(JSON.stringify({ ...(await authMessage(me, hello.challenge as `0x${string}`)), inFlight: held }));
  await s.next('welcome');
  for (const id of held) {
    s.ws.send(
      JSON.stringify(await signedResult(me, me.address, { assignmentId: id, taskId: id }, 'a'.repeat(64))),
    );
  }
  for (let i = 0; i < held.length; i++) {
    const ack = await s.next('ack');
    assert.deepEqual([ack.accepted, ack.code], [false, 'PLX_STALE_ASSIGNMENT']);
  }
  // 30 refusals, more than MAX_STRIKES (20): had any been a strike, the socket would have closed
  // after the 21st ack and the later acks would never have come.
  assert.equal(s.ws.readyState, s.ws.OPEN);
  // Each listed id is excused once: the same stale results again are strikes (20 close it).
  const again = await signedResult(
    me,
    me.address,
    { assignmentId: held[0], taskId: held[0] },
    'a'.repeat(64),
  );
  for (let i = 0; i < 25; i++) s.ws.send(JSON.stringify(again));
  assert.equal(await s.closed, 1008);
});

test('a provider that fails every attempt makes the job fail with a readable reason', async () => {
  const me = randomAccount();
  const s = await open();
  const hello = await s.next('hello');
  s.ws.send(JSON.stringify(await authMessage(me, hello.challenge as `0x${string}`)));
  await s.next('welcome');
  const client = createClient({ url: c.url, account: randomAccount() });
  const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(4)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 60,
    maxAttempts: 2,
  });
  for (let attempt = 1; attempt <= 2; attempt++) {
    const assign = await s.next('assign');
    const issuedAt = Math.floor(Date.now() / 1000);
    const message = `out of memory (attempt ${attempt})`;
    const { keccak256, toBytes } = await import('viem');
    const signature = await signPlexusMessage(me, 31337, 'TaskFailure', {
      provider: me.address,
      assignmentId: assign.assignmentId as `0x${string}`,
      taskId: assign.taskId as `0x${string}`,
      reasonHash: keccak256(toBytes(`PLX_TASK_RUNTIME_ERROR:${message}`)),
      issuedAt: BigInt(issuedAt),
    });
    s.ws.send(
      JSON.stringify({
        type: 'failure',
        assignmentId: assign.assignmentId,
        taskId: assign.taskId,
        code: 'PLX_TASK_RUNTIME_ERROR',
        message,
        issuedAt,
        signature,
      }),
    );
    assert.equal((await s.next('ack')).accepted, true);
  }
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'failed');
  assert.equal(final.error?.code, 'PLX_TASK_FAILED');
  assert.match(final.error?.message ?? '', /out of memory \(attempt 2\)/);
  s.ws.close();
});

test('the coordinator is still healthy', async () => {
  const health = (await (await fetch(`${c.url}/v1/health`)).json()) as { ok: boolean };
  assert.equal(health.ok, true);
});
