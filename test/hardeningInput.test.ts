/**
 * Issue 16, item 7: the documented codes for bad input on the HTTP API (docs/errors.md), where
 * routes used to answer a generic PLX_VALIDATION, a 400 for a wrong media type or a 503 for a
 * typo, and a deeply nested hardware claim that must be refused by the schema, never reach a
 * stack trace (PLX_INTERNAL).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { signJobSubmission } from '../src/client/signJobSubmission.ts';
import type { OnnxInferSpecInput } from '../src/protocol/schemas.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator();
});
after(async () => {
  await c.cleanup();
});

async function post(path: string, body: string, contentType: string) {
  const res = await fetch(`${c.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
}

async function submit(spec: Record<string, unknown>) {
  const body = await signJobSubmission(randomAccount(), 31337, spec as unknown as OnnxInferSpecInput);
  return post('/v1/jobs', JSON.stringify(body), 'application/json');
}

const deadline = () => Math.floor(Date.now() / 1000) + 60;

test('an unknown job kind is PLX_UNSUPPORTED_JOB_KIND, a malformed cid PLX_BAD_CID', async () => {
  const cid = 'a'.repeat(64);
  assert.deepEqual(await submit({ kind: 'tf.infer', model: cid, inputs: [cid], deadline: deadline() }), {
    status: 400,
    code: 'PLX_UNSUPPORTED_JOB_KIND',
  });
  assert.deepEqual(await submit({ kind: 'onnx.infer', model: 'XYZ', inputs: [cid], deadline: deadline() }), {
    status: 400,
    code: 'PLX_BAD_CID',
  });
  assert.deepEqual(
    await submit({ kind: 'onnx.infer', model: cid, inputs: [cid, 'A'.repeat(64)], deadline: deadline() }),
    { status: 400, code: 'PLX_BAD_CID' },
  );
  // Other spec errors stay PLX_VALIDATION.
  assert.deepEqual(await submit({ kind: 'onnx.infer', model: cid, inputs: [cid], deadline: 'soon' }), {
    status: 400,
    code: 'PLX_VALIDATION',
  });
});

test('a job sent as text/plain is 415 PLX_UNSUPPORTED_MEDIA_TYPE', async () => {
  const body = await signJobSubmission(randomAccount(), 31337, {
    kind: 'onnx.infer',
    model: 'a'.repeat(64),
    inputs: ['a'.repeat(64)],
    deadline: deadline(),
  });
  assert.deepEqual(await post('/v1/jobs', JSON.stringify(body), 'text/plain'), {
    status: 415,
    code: 'PLX_UNSUPPORTED_MEDIA_TYPE',
  });
});

test('a mis-checksummed address on /v1/rewards/:address is 400 PLX_VALIDATION', async () => {
  const good = randomAccount().address;
  // Flip the case of one letter of the checksummed form: still hex, wrong checksum.
  const i = [...good].findIndex((ch, k) => k > 1 && /[a-fA-F]/.test(ch));
  const ch = good[i]!;
  const bad =
    good.slice(0, i) + (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) + good.slice(i + 1);
  const res = await fetch(`${c.url}/v1/rewards/${bad}`);
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PLX_VALIDATION');
  // The right checksum, or all lowercase, is a lookup (nothing settled here: 404).
  assert.equal((await fetch(`${c.url}/v1/rewards/${good}`)).status, 404);
  assert.equal((await fetch(`${c.url}/v1/rewards/${good.toLowerCase()}`)).status, 404);
});

test('a 40,000-deep hardware claim is refused with PLX_VALIDATION, never PLX_INTERNAL', async () => {
  const ws = new WebSocket(`${c.url.replace('http', 'ws')}/v1/providers/ws`, { maxPayload: 1 << 20 });
  const inbox: { type: string; code?: string }[] = [];
  let wake = () => {};
  ws.on('message', (raw) => {
    inbox.push(JSON.parse(raw.toString()));
    wake();
  });
  const closed = new Promise<void>((r) => ws.on('close', () => r()));
  await new Promise((r) => ws.once('open', r));
  // As deep as fits in one frame (MAX_WS_MESSAGE_BYTES, 256 KiB).
  const deep = `${'{"x":'.repeat(40_000)}1${'}'.repeat(40_000)}`;
  const msg = `{"type":"auth","provider":"${randomAccount().address}","issuedAt":1,"signature":"0x${'11'.repeat(65)}","hardware":${deep},"slots":1,"region":"eu","agentVersion":"t"}`;
  ws.send(msg);
  const until = Date.now() + 30_000;
  while (!inbox.some((m) => m.type === 'error') && Date.now() < until) {
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 1000).unref();
    });
  }
  const error = inbox.find((m) => m.type === 'error');
  assert.ok(error, 'an error came back');
  assert.notEqual(error.code, 'PLX_INTERNAL');
  assert.equal(error.code, 'PLX_VALIDATION');
  ws.close();
  await closed;
  // The coordinator still answers.
  assert.equal((await fetch(`${c.url}/v1/health`)).status, 200);
});
