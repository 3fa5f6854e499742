/**
 * Evidence downloads across coordinator replicas (src/validator/createValidator.ts
 * `downloadEvidence`), against real HTTP servers: a replica that dies mid-transfer is resumed on
 * the next with `Range`, and a resumed part of another bundle (the epoch closed again meanwhile)
 * is not glued to the first part: the download starts over.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { parseRange } from '../src/coordinator/settlement/evidenceRoutes.ts';
import { replicaFetch } from '../src/protocol/replicaFetch.ts';
import { downloadEvidence } from '../src/validator/createValidator.ts';

const OLD = `{"bundle":"${'a'.repeat(200_000)}"}`;
const NEW = `{"bundle":"${'b'.repeat(200_000)}"}`;

/** Serves `body` (hash header `hash`) with ranges, as evidenceRoutes.ts does. */
function serveBundle(body: string, hash: string, opts: { dieAfter?: number } = {}) {
  const ranges: (string | undefined)[] = [];
  return {
    ranges,
    handler(req: IncomingMessage, res: ServerResponse) {
      ranges.push(req.headers.range);
      const bytes = Buffer.from(body);
      const r = parseRange(req.headers.range, bytes.length);
      const { start, end } = r && r !== 'invalid' ? r : { start: 0, end: bytes.length - 1 };
      res.writeHead(r ? 206 : 200, {
        'content-type': 'application/json',
        'content-length': end - start + 1,
        'x-plexus-evidence-hash': hash,
      });
      if (opts.dieAfter !== undefined) {
        // Half the body, then the process "dies": the connection is cut.
        res.write(bytes.subarray(start, start + opts.dieAfter), () => res.socket?.destroy());
        return;
      }
      res.end(bytes.subarray(start, end + 1));
    },
  };
}
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}
const close = (s: Server) =>
  new Promise<void>((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

test('a download cut off by a dying replica resumes on the next one from where it stopped', async () => {
  const a = serveBundle(OLD, '0xaa', { dieAfter: 65_536 });
  const b = serveBundle(OLD, '0xaa');
  const A = await listen(a.handler);
  const B = await listen(b.handler);
  try {
    // A stops answering after the cut (its process is gone): close it once the first part is served.
    const replicas = replicaFetch([A.url, B.url]);
    const origFetch = replicas.fetch;
    let calls = 0;
    replicas.fetch = async (path, init) => {
      if (calls++ === 1) await close(A.server);
      return origFetch(path, init);
    };
    assert.equal(await downloadEvidence(replicas, 4), OLD);
    assert.equal(a.ranges[0], undefined);
    assert.match(b.ranges[0] ?? '', /^bytes=\d+-$/, 'B was asked only for the rest');
    assert.ok(Number(/\d+/.exec(b.ranges[0]!)![0]) > 0, 'Number(/\\d+/.exec(b.ranges[0]!)![0]) > 0');
    assert.equal(replicas.url(), B.url);
  } finally {
    await Promise.all([close(A.server), close(B.server)]);
  }
});

test('a resumed part of another bundle is not glued on: the download starts over', async () => {
  const a = serveBundle(OLD, '0xaa', { dieAfter: 65_536 });
  const b = serveBundle(NEW, '0xbb');
  const A = await listen(a.handler);
  const B = await listen(b.handler);
  try {
    const replicas = replicaFetch([A.url, B.url]);
    const origFetch = replicas.fetch;
    let calls = 0;
    replicas.fetch = async (path, init) => {
      if (calls++ === 1) await close(A.server);
      return origFetch(path, init);
    };
    assert.equal(await downloadEvidence(replicas, 4), NEW, 'the whole new bundle, not half of each');
    assert.deepEqual(
      b.ranges.map((r) => (r ? 'range' : 'whole')),
      ['range', 'whole'],
    );
  } finally {
    await Promise.all([close(A.server), close(B.server)]);
  }
});
