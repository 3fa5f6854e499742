import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { replicaFetch } from './replicaFetch.ts';

/** A real HTTP server answering every request with `status` and its own name. */
async function serve(name: string, status = 200): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(status).end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}
const close = (s: Server) =>
  new Promise<void>((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

test('moves to the next replica when the one in use stops answering, and stays there', async () => {
  const a = await serve('a');
  const b = await serve('b');
  try {
    const r = replicaFetch(`${a.url},${b.url}/`);
    assert.deepEqual(r.urls, [a.url, b.url]);
    assert.equal(await (await r.fetch('/x')).text(), 'a');
    await close(a.server);
    assert.equal(await (await r.fetch('/x')).text(), 'b');
    assert.equal(r.url(), b.url);
    assert.equal(await (await r.fetch('/x')).text(), 'b', 'the replica that answered stays in use');
  } finally {
    await close(b.server);
  }
});

test('a gateway error tries the next replica; an ordinary error answer does not', async () => {
  const gw = await serve('gateway', 503);
  const nf = await serve('not found', 404);
  const ok = await serve('ok');
  try {
    assert.equal(await (await replicaFetch([gw.url, ok.url]).fetch('/')).text(), 'ok');
    const res = await replicaFetch([nf.url, ok.url]).fetch('/');
    assert.equal(res.status, 404, 'a 404 is an answer, not an outage');
    // The last replica's answer is returned whatever it is.
    assert.equal((await replicaFetch([ok.url, gw.url]).fetch('/')).status, 200);
  } finally {
    await Promise.all([close(gw.server), close(nf.server), close(ok.server)]);
  }
});

test('throws the last failure when no replica answers', async () => {
  const a = await serve('a');
  const b = await serve('b');
  await close(a.server);
  await close(b.server);
  await assert.rejects(replicaFetch([a.url, b.url]).fetch('/'), /fetch failed/);
});
