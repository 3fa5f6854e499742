/**
 * Issue 16, slow requests (slowloris): headers that trickle in are cut off after
 * `headersTimeoutMs`, a body slower than its size at the minimum rate is answered 408
 * PLX_REQUEST_TIMEOUT and its socket closed, while an upload above the minimum rate that takes
 * longer than the grace still succeeds (its deadline grows with its size). Before the fix a slow
 * request could hold its socket for 10 minutes (Fastify's requestTimeout) and its headers for 60 s.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../src/protocol/eip712.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
const MIN_RATE = 32 * 1024;
before(async () => {
  c = await testCoordinator({
    headersTimeoutMs: 1000,
    requestGraceMs: 1000,
    minRequestBytesPerSec: MIN_RATE,
  });
});
after(async () => {
  await c?.cleanup();
});

const port = () => Number(new URL(c.url).port);

/** Writes `chunks` to a raw socket, one every `everyMs`, until the server closes it; resolves with what came back. */
function trickle(head: string, chunk: string, everyMs: number, giveUpMs: number) {
  return new Promise<{ closedAfterMs: number; answer: string }>((resolve, reject) => {
    const started = Date.now();
    const s = connect(port(), '127.0.0.1');
    let answer = '';
    s.on('data', (d) => {
      answer += d.toString();
    });
    s.on('error', () => {});
    s.write(head);
    const drip = setInterval(() => {
      if (!s.destroyed) s.write(chunk);
    }, everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(drip);
      s.destroy();
      reject(new Error(`the server kept the slow request open for ${giveUpMs} ms`));
    }, giveUpMs);
    s.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
  });
}

test('headers sent a line at a time are cut off after headersTimeoutMs', async () => {
  // Each line resets nothing: the bound is on the whole header block (1 s here, checked every second).
  const { closedAfterMs } = await trickle(
    'GET /v1/health HTTP/1.1\r\nhost: x\r\n',
    'x-slow: 1\r\n',
    200,
    20_000,
  );
  assert.ok(closedAfterMs >= 900, `closed after ${closedAfterMs} ms, not before the timeout`);
});

test('a JSON body slower than the minimum rate gets 408 PLX_REQUEST_TIMEOUT and its socket closed', async () => {
  // 10,000 bytes declared: deadline 1 s + 10,000 / 32 KiB/s ≈ 1.3 s; 10 bytes every 200 ms would take 200 s.
  const { answer } = await trickle(
    'POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{"pad":"',
    'xxxxxxxxxx',
    200,
    20_000,
  );
  assert.match(answer, /^HTTP\/1\.1 408/);
  assert.match(answer, /PLX_REQUEST_TIMEOUT/);
});

test('an upload faster than the minimum rate but longer than the grace completes (its deadline grows with its size)', async () => {
  const account = randomAccount();
  const bytes = randomBytes(256 * 1024);
  const cid = createHash('sha256').update(bytes).digest('hex');
  const auth = await signBlobAuth(account, 31337, { cid, size: bytes.length });
  // 16 KiB every 125 ms: 128 KiB/s, four times the minimum; about 2 s, twice the grace. The
  // deadline is 1 s + 256 KiB at 32 KiB/s = 9 s, so a busy machine has room to send late.
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      `${c.url}/v1/blobs/${cid}`,
      {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': bytes.length,
          [BLOB_AUTH_HEADER]: auth,
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    let sent = 0;
    const tick = setInterval(() => {
      const next = Math.min(sent + 16 * 1024, bytes.length);
      req.write(bytes.subarray(sent, next));
      sent = next;
      if (sent === bytes.length) {
        clearInterval(tick);
        req.end();
      }
    }, 125);
  });
  assert.equal(status, 201);
  assert.ok(Date.now() - started > 1000, 'the upload took longer than the grace alone');
});
