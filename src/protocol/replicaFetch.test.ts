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

test('returns to the primary replica once it answers again after the cool-down, one try per cool-down', async () => {
  let clock = 0;
  const up = new Map([
    ['http://a', true],
    ['http://b', true],
  ]);
  const asked: string[] = [];
  const fake = (async (url: string) => {
    const base = url.slice(0, 8);
    asked.push(base);
    if (!up.get(base)) throw new TypeError('fetch failed');
    return new Response(base);
  }) as typeof fetch;
  const r = replicaFetch(['http://a', 'http://b'], fake, { returnAfterMs: 1000, now: () => clock });
  assert.equal(await (await r.fetch('/x')).text(), 'http://a');
  up.set('http://a', false);
  assert.equal(await (await r.fetch('/x')).text(), 'http://b', 'failed over');
  assert.equal(r.url(), 'http://b');
  asked.length = 0;
  clock = 999;
  await r.fetch('/x');
  assert.deepEqual(asked, ['http://b'], 'within the cool-down the primary is not tried');
  clock = 1000;
  asked.length = 0;
  await r.fetch('/x');
  assert.deepEqual(asked, ['http://a', 'http://b'], 'after it, the primary first; still down: on to b');
  asked.length = 0;
  clock = 1500;
  await r.fetch('/x');
  assert.deepEqual(asked, ['http://b'], 'a failed try restarts the cool-down');
  up.set('http://a', true);
  clock = 2000;
  assert.equal(await (await r.fetch('/x')).text(), 'http://a', 'back on the primary once it answers');
  assert.equal(r.url(), 'http://a');
  asked.length = 0;
  await r.fetch('/x');
  assert.deepEqual(asked, ['http://a']);
});

test('a primary answering with a gateway error is not returned to', async () => {
  let clock = 0;
  let aStatus = 0; // 0: refused
  const fake = (async (url: string) => {
    if (url.startsWith('http://a')) {
      if (aStatus === 0) throw new TypeError('fetch failed');
      return new Response('a', { status: aStatus });
    }
    return new Response('b');
  }) as typeof fetch;
  const r = replicaFetch('http://a,http://b', fake, { returnAfterMs: 10, now: () => clock });
  assert.equal(await (await r.fetch('/')).text(), 'b');
  aStatus = 503;
  clock = 100;
  assert.equal(await (await r.fetch('/')).text(), 'b');
  assert.equal(r.url(), 'http://b');
  aStatus = 200;
  clock = 200;
  assert.equal(await (await r.fetch('/')).text(), 'a');
});

test('a distrusted replica is left out while it answers, tried only when no other does, and trusted again later', async () => {
  let clock = 0;
  const up = new Map([
    ['http://a', true],
    ['http://b', true],
  ]);
  const asked: string[] = [];
  const fake = (async (url: string) => {
    const base = url.slice(0, 8);
    asked.push(base);
    if (!up.get(base)) throw new TypeError('fetch failed');
    return new Response(base);
  }) as typeof fetch;
  const r = replicaFetch(['http://a', 'http://b'], fake, { returnAfterMs: 10, now: () => clock });
  assert.equal(await (await r.fetch('/x')).text(), 'http://a');
  assert.equal(r.distrust('http://a', 1000), true);
  assert.equal(r.url(), 'http://b', 'moved off it at once');
  assert.equal(r.distrust('http://b', 1000), false, 'the last trusted replica is kept');
  clock = 500;
  asked.length = 0;
  assert.equal(await (await r.fetch('/x')).text(), 'http://b', 'not returned to as the primary');
  assert.deepEqual(asked, ['http://b']);
  up.set('http://b', false);
  asked.length = 0;
  assert.equal(await (await r.fetch('/x')).text(), 'http://a', 'tried last when no other answers');
  assert.deepEqual(asked, ['http://b', 'http://a']);
  up.set('http://b', true);
  assert.equal(r.distrust('http://a', 1000), true);
  clock = 2000;
  assert.equal(
    await (await r.fetch('/x')).text(),
    'http://a',
    'once the distrust is over, the primary again',
  );
});
