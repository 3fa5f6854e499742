/**
 * The coordinator's HTTP API against bad input: every case gets a documented PLX_ code and a 4xx,
 * nothing is stored, and the coordinator keeps serving. Real Fastify on a free port, real SQLite,
 * real onnxruntime model inspection on the PP-OCRv4 model.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { signJobSubmission } from '../src/client/signJobSubmission.ts';
import { MAX_JOB_DEADLINE_SEC } from '../src/protocol/constants.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../src/protocol/eip712.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { fetchAsClient } from './helpers/jobRead.ts';

type C = Awaited<ReturnType<typeof testCoordinator>>;
let c: C;
let modelCid: string;
let inputCid: string;
/** Coordinator c's job-signature domain (chain id and network id, from GET /v1/health). */
let domain: { chainId: number; verifyingContract: `0x${string}` };
const client = randomAccount();

async function post(path: string, body: BodyInit, type = 'application/json') {
  return fetch(`${c.url}${path}`, { method: 'POST', body, headers: { 'content-type': type } });
}
/** Uploads as the client, through the SDK (it signs the upload). */
async function upload(bytes: Uint8Array): Promise<string> {
  return (await createClient({ url: c.url, account: client }).uploadBlob(bytes)).cid;
}
/** A blob request signed by `account` (BlobRead, or BlobUpload when `size` is given). */
async function signed(cid: string, size?: number, account = client): Promise<Record<string, string>> {
  const what = size === undefined ? { cid } : { cid, size };
  return { [BLOB_AUTH_HEADER]: await signBlobAuth(account, 31337, what) };
}
async function expectError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(body)}`);
  assert.equal(body.error.code, code, body.error.message);
  assert.ok(body.error.message.length > 0, 'body.error.message.length > 0');
  return body.error as unknown as Record<string, unknown>;
}
function spec(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'onnx.infer' as const,
    model: modelCid,
    inputs: [inputCid],
    deadline: Math.floor(Date.now() / 1000) + 600,
    ...overrides,
  };
}
async function submit(body: unknown) {
  return post('/v1/jobs', JSON.stringify(body));
}

before(async () => {
  c = await testCoordinator({ maxBlobBytes: 16 * 1024 * 1024 });
  domain = (await (await fetch(`${c.url}/v1/health`)).json()) as typeof domain;
  modelCid = await upload(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  inputCid = await upload(encodeSafetensors(ocrInput(1)));
});
after(async () => {
  await c.cleanup();
});

describe('blobs', () => {
  test('upload returns the sha256 content id; download and HEAD return the same bytes', async () => {
    const bytes = new TextEncoder().encode('hello plexus');
    const cid = await upload(bytes);
    assert.equal(cid, createHash('sha256').update(bytes).digest('hex'));
    const res = await fetch(`${c.url}/v1/blobs/${cid}`, { headers: await signed(cid) });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    const head = await fetch(`${c.url}/v1/blobs/${cid}`, { method: 'HEAD', headers: await signed(cid) });
    assert.equal(head.headers.get('content-length'), String(bytes.length));
  });

  test('PUT under the wrong content id is refused and stores nothing', async () => {
    const wrong = 'a'.repeat(64);
    const body = new TextEncoder().encode('not that');
    const res = await fetch(`${c.url}/v1/blobs/${wrong}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream', ...(await signed(wrong, body.length)) },
    });
    await expectError(res, 400, 'PLX_DIGEST_MISMATCH');
    // Nothing was recorded for the uploader either: it has no right to that cid.
    await expectError(
      await fetch(`${c.url}/v1/blobs/${wrong}`, { headers: await signed(wrong) }),
      403,
      'PLX_BLOB_FORBIDDEN',
    );
  });

  test('malformed content ids and unknown blobs', async () => {
    await expectError(await fetch(`${c.url}/v1/blobs/not-a-cid`), 400, 'PLX_VALIDATION');
    // Unknown and private blobs look the same to an outsider: existence is not disclosed.
    await expectError(await fetch(`${c.url}/v1/blobs/${'0'.repeat(64)}`), 401, 'PLX_AUTH_REQUIRED');
  });

  test('oversized uploads are refused, declared or streamed', async () => {
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    const bigCid = createHash('sha256').update(big).digest('hex');
    await expectError(
      await fetch(`${c.url}/v1/blobs/${bigCid}`, {
        method: 'PUT',
        body: big,
        headers: { 'content-type': 'application/octet-stream', ...(await signed(bigCid, big.length)) },
      }),
      413,
      'PLX_PAYLOAD_TOO_LARGE',
    );
    // Chunked, with no content-length: the size is signed, so an upload must declare it.
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let i = 0; i < 17; i++) ctl.enqueue(new Uint8Array(1024 * 1024));
        ctl.close();
      },
    });
    const res = await fetch(`${c.url}/v1/blobs/${bigCid}`, {
      method: 'PUT',
      body: stream,
      headers: { 'content-type': 'application/octet-stream', ...(await signed(bigCid, 17 * 1024 * 1024)) },
      duplex: 'half',
    } as RequestInit);
    await expectError(res, 400, 'PLX_VALIDATION');
  });

  test('a blob upload in another content type is refused', async () => {
    await expectError(await post('/v1/blobs', 'hello', 'text/plain'), 415, 'PLX_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('job submission', () => {
  test('a valid signed job is accepted and can be read back', async () => {
    const res = await submit(await signJobSubmission(client, domain, spec({ label: 'ok' })));
    assert.equal(res.status, 201);
    const { jobId, tasks } = (await res.json()) as { jobId: string; tasks: number };
    assert.equal(tasks, 1);
    const job = (await (await fetchAsClient(c.url, `/v1/jobs/${jobId}`, client, jobId)).json()) as {
      status: string;
      tasks: unknown[];
    };
    assert.equal(job.status, 'queued');
    assert.equal(job.tasks.length, 1, 'its client reads its task');
    // Anyone else reads the public part: no tasks, no client, no cost (a canary's shadow job reads alike).
    const seen = (await (await fetch(`${c.url}/v1/jobs/${jobId}`)).json()) as Record<string, unknown>;
    assert.deepEqual([seen.status, seen.tasks, seen.client, seen.cost], ['queued', [], null, null]);
    await expectError(await fetch(`${c.url}/v1/jobs/${jobId}/results`), 401, 'PLX_AUTH_REQUIRED');
    await expectError(
      await fetchAsClient(c.url, `/v1/jobs/${jobId}/results`, randomAccount(), jobId),
      404,
      'PLX_NOT_FOUND',
    );
    await expectError(
      await fetchAsClient(c.url, `/v1/jobs/${jobId}/results`, client, jobId),
      409,
      'PLX_JOB_NOT_FINISHED',
    );
  });

  test('malformed JSON', async () => {
    await expectError(await post('/v1/jobs', '{"spec": '), 400, 'PLX_BAD_JSON');
  });

  test('unknown fields, in the envelope and in the spec', async () => {
    const signed = await signJobSubmission(client, domain, spec());
    await expectError(await submit({ ...signed, extra: 1 }), 400, 'PLX_VALIDATION');
    const withField = await signJobSubmission(client, domain, { ...spec(), priority: 'high' } as never);
    const err = await expectError(await submit(withField), 400, 'PLX_VALIDATION');
    assert.match(String(err.message), /priority/);
  });

  test('a file that is not an ONNX model', async () => {
    const notModel = await upload(new TextEncoder().encode('this is not an onnx model'));
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ model: notModel }))),
      400,
      'PLX_BAD_MODEL',
    );
  });

  test('inputs whose names, dtypes or shapes do not match the model', async () => {
    const wrongName = await upload(encodeSafetensors({ image: ocrInput(2).x! }));
    const wrongDtype = await upload(
      encodeSafetensors({ x: { dtype: 'int32', shape: [1, 3, 32, 32], data: new Int32Array(3 * 32 * 32) } }),
    );
    const wrongRank = await upload(
      encodeSafetensors({ x: { dtype: 'float32', shape: [3, 32, 32], data: new Float32Array(3 * 32 * 32) } }),
    );
    const wrongChannels = await upload(
      encodeSafetensors({
        x: { dtype: 'float32', shape: [1, 4, 32, 32], data: new Float32Array(4 * 32 * 32) },
      }),
    );
    for (const bad of [wrongName, wrongDtype, wrongRank, wrongChannels]) {
      await expectError(
        await submit(await signJobSubmission(client, domain, spec({ inputs: [inputCid, bad] }))),
        400,
        'PLX_INPUT_MISMATCH',
      );
    }
    const notTensors = await upload(new TextEncoder().encode('garbage'));
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ inputs: [notTensors] }))),
      400,
      'PLX_BAD_TENSOR_FILE',
    );
  });

  test('unknown blob ids', async () => {
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ inputs: ['f'.repeat(64)] }))),
      400,
      'PLX_UNKNOWN_BLOB',
    );
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ model: 'e'.repeat(64) }))),
      400,
      'PLX_UNKNOWN_BLOB',
    );
  });

  test('bad signatures: another signer, a tampered spec, another chain', async () => {
    const other = randomAccount();
    const signedByOther = await signJobSubmission(other, domain, spec());
    await expectError(await submit({ ...signedByOther, client: client.address }), 401, 'PLX_BAD_SIGNATURE');
    const signed = await signJobSubmission(client, domain, spec());
    await expectError(
      await submit({ ...signed, spec: { ...spec(), maxAttempts: 9 } }),
      401,
      'PLX_BAD_SIGNATURE',
    );
    await expectError(
      await submit(await signJobSubmission(client, { ...domain, chainId: 1 }, spec())),
      401,
      'PLX_BAD_SIGNATURE',
    );
    await expectError(
      await submit({ ...signed, signature: `0x${'1b'.repeat(65)}` }),
      401,
      'PLX_BAD_SIGNATURE',
    );
  });

  test('stale and replayed submissions', async () => {
    const stale = await signJobSubmission(client, domain, spec(), {
      issuedAt: Math.floor(Date.now() / 1000) - 3600,
    });
    await expectError(await submit(stale), 401, 'PLX_STALE_MESSAGE');
    const once = await signJobSubmission(client, domain, spec(), { nonce: 77n });
    assert.equal((await submit(once)).status, 201);
    await expectError(await submit(once), 409, 'PLX_REPLAY');
    // Same nonce, different spec: still a replay of the nonce.
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ label: 'x' }), { nonce: 77n })),
      409,
      'PLX_REPLAY',
    );
  });

  test('deadlines in the past', async () => {
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ deadline: 1_000_000 }))),
      400,
      'PLX_DEADLINE_PASSED',
    );
    // Capped (security review: deferred bills waited for a job that never ended).
    const far = Math.floor(Date.now() / 1000) + MAX_JOB_DEADLINE_SEC + 3600;
    await expectError(
      await submit(await signJobSubmission(client, domain, spec({ deadline: far }))),
      400,
      'PLX_DEADLINE_TOO_FAR',
    );
  });

  test('unknown jobs and routes', async () => {
    await expectError(await fetch(`${c.url}/v1/jobs/0x${'0'.repeat(64)}`), 404, 'PLX_NOT_FOUND');
    await expectError(await fetch(`${c.url}/v1/jobs/nope`), 400, 'PLX_VALIDATION');
    await expectError(await fetch(`${c.url}/v1/nothing-here`), 404, 'PLX_NOT_FOUND');
  });
});

test('after all of that the coordinator is healthy and documents its API', async () => {
  const health = (await (await fetch(`${c.url}/v1/health`)).json()) as { ok: boolean };
  assert.equal(health.ok, true);
  const openapi = (await (await fetch(`${c.url}/docs/json`)).json()) as { paths: Record<string, unknown> };
  assert.ok(openapi.paths['/v1/jobs'], "openapi.paths['/v1/jobs']");
  assert.ok(openapi.paths['/v1/blobs/{cid}'], "openapi.paths['/v1/blobs/{cid}']");
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  assert.match(metrics, /plexus_rejected_messages_total\{code="PLX_BAD_SIGNATURE"\} [1-9]/);
  const jobs = (await (await fetch(`${c.url}/v1/jobs`)).json()) as { jobs: unknown[] };
  assert.equal(jobs.jobs.length, 2, 'only the two valid submissions were stored');
});

test('a client over the request rate limit gets PLX_RATE_LIMITED and a retry-after', async () => {
  const limited = await testCoordinator({ rateLimitPerMinute: 5 });
  try {
    const codes: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 7; i++) {
      last = await fetch(`${limited.url}/v1/health`);
      codes.push(last.status);
      if (last.status !== 429) await last.arrayBuffer();
    }
    assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
    assert.ok(Number(last?.headers.get('retry-after')) > 0, "Number(last?.headers.get('retry-after')) > 0");
    await expectError(last!, 429, 'PLX_RATE_LIMITED');
  } finally {
    await limited.cleanup();
  }
});
