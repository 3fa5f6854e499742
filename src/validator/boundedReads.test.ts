// Review s13, F1: what a coordinator replica (or a rogue URL listed as one) sends a validator is
// read with a byte limit, and a network that answers slowly holds up only its own checking.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { createLogger } from '../logger.ts';
import { createValidator, downloadEvidence, MAX_EVIDENCE_BYTES } from './createValidator.ts';
import { BlobRefused, MAX_RECHECK_BLOB_BYTES, readBlobAs } from './recheck.ts';
import { openValidatorStore } from './validatorStore.ts';

const MiB = 1024 * 1024;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, url };
}

const close = (s: Server) =>
  new Promise<void>((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

/** A chunked answer (no content-length) of `total` bytes; `sent` counts what went out. */
function streaming(total: number, headers: Record<string, string> = {}) {
  const state = { sent: 0 };
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
    const pump = () => {
      while (state.sent < total) {
        state.sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('error', () => {});
    pump();
  };
  return { state, handler };
}

const tooLarge = (err: unknown) => {
  assert.ok(
    isPlexusError(err, 'PLX_RESPONSE_TOO_LARGE'),
    `PLX_RESPONSE_TOO_LARGE expected, got ${String(err)}`,
  );
  return true;
};

test('an evidence body streamed past the limit is cut off (no content-length), not retried', async () => {
  let requests = 0;
  const s = streaming(32 * MiB, { 'x-plexus-evidence-hash': `0x${'00'.repeat(32)}` });
  const { server, url } = await serve((req, res) => {
    requests++;
    s.handler(req, res);
  });
  try {
    await assert.rejects(downloadEvidence(url, 1, 4, 1 * MiB), tooLarge);
    assert.equal(requests, 1, 'an over-limit bundle is not asked for again');
    assert.ok(s.state.sent < 32 * MiB, `the transfer was cancelled early (sent ${s.state.sent} bytes)`);
  } finally {
    await close(server);
  }
});

test('an evidence body declaring more than MAX_EVIDENCE_BYTES is refused before it is read', async () => {
  const { server, url } = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': String(MAX_EVIDENCE_BYTES + 1) });
    res.write('{');
    // Never sends the rest: a reader trusting the header would wait for it.
  });
  try {
    await assert.rejects(downloadEvidence(url, 1, 1), tooLarge);
  } finally {
    await close(server);
  }
});

test('a bundle within the limit still downloads whole', async () => {
  const s = streaming(2 * MiB);
  const { server, url } = await serve(s.handler);
  try {
    const text = await downloadEvidence(url, 1, 1, 4 * MiB);
    assert.equal(text.length, s.state.sent, 'the whole bundle is returned');
  } finally {
    await close(server);
  }
});

test('readBlobAs cuts off a chunked blob past its limit (a BlobRefused: the coordinator answered)', async () => {
  const s = streaming(32 * MiB);
  const { server, url } = await serve(s.handler);
  const account = privateKeyToAccount(generatePrivateKey());
  try {
    await assert.rejects(readBlobAs(url, account, 1, 'ab'.repeat(32), 1 * MiB), (err) => {
      assert.ok(err instanceof BlobRefused, `BlobRefused expected, got ${String(err)}`);
      return true;
    });
    assert.ok(s.state.sent < 32 * MiB, `the transfer was cancelled early (sent ${s.state.sent} bytes)`);
    assert.ok(MAX_RECHECK_BLOB_BYTES === 512 * MiB, 'the recheck limit is 512 MiB');
  } finally {
    await close(server);
  }
});

test('a network whose coordinator does not answer does not hold up polling the others', async () => {
  const held: ServerResponse[] = [];
  let released = false;
  const answer = (res: ServerResponse) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"epochs":[]}');
  const slow = await serve((_req, res) => (released ? answer(res) : void held.push(res)));
  let honestAsked!: () => void;
  const asked = new Promise<void>((r) => {
    honestAsked = r;
  });
  const honest = await serve((req, res) => {
    if (req.url === '/v1/epochs') honestAsked();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ epochs: [] }));
  });
  const store = openValidatorStore(':memory:');
  const v = await createValidator({
    account: privateKeyToAccount(generatePrivateKey()),
    target: { chainId: 31337, settlement: `0x${'22'.repeat(20)}` },
    coordinators: [slow.url, honest.url],
    store,
    log: createLogger('validator', { level: 'silent' }),
    port: 0,
  });
  try {
    const polled = v.poll();
    // The slow network's list request waits up to 30 s; the honest one is asked meanwhile.
    const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), 20_000).unref());
    assert.equal(
      await Promise.race([asked.then(() => 'asked' as const), deadline]),
      'asked',
      'honest network polled',
    );
    released = true;
    for (const res of held) answer(res);
    await polled;
  } finally {
    await v.stop();
    store.close();
    await close(slow.server);
    await close(honest.server);
  }
});
