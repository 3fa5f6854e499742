import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { createBlobHttp } from './blobHttp.ts';

/** The x-plexus-auth header of each request, by method and cid. */
const authSeen = new Map<string, string | undefined>();
const stored = new Map<string, Buffer>([['a'.repeat(64), Buffer.alloc(300_000, 7)]]);
const sockets = new Set<unknown>();
const server = http.createServer(async (req, res) => {
  sockets.add(req.socket);
  // /moved/… redirects to the blob API, as a proxy or a blob store in front of it might.
  if (req.url!.startsWith('/moved/')) {
    req.resume();
    res
      .writeHead(req.method === 'PUT' ? 307 : 302, { location: `/v1/blobs/${req.url!.split('/').pop()}` })
      .end();
    return;
  }
  const cid = req.url!.split('/').pop()!;
  authSeen.set(`${req.method} ${cid}`, req.headers['x-plexus-auth'] as string | undefined);
  if (req.headers['x-plexus-auth'] === 'cap1.refused') {
    // A lease token whose lease ended.
    req.resume();
    res
      .writeHead(403, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'PLX_BLOB_FORBIDDEN', message: 'lease ended' } }));
    return;
  }
  if (req.method === 'PUT') {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    stored.set(cid, Buffer.concat(chunks));
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ cid }));
    return;
  }
  if (cid === 'b'.repeat(64)) {
    // Headers, then silence: the caller gives up (abort).
    res.writeHead(200, { 'content-length': 10 });
    res.write('12345');
    return;
  }
  const blob = stored.get(cid);
  if (blob === undefined) {
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'PLX_NOT_FOUND', message: `no blob ${cid}` } }));
    return;
  }
  res.writeHead(200, { 'content-length': blob.length }).end(blob);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const blobs = createBlobHttp(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
after(() => {
  blobs.close();
  server.closeAllConnections();
  server.close();
});

const read = async (s: AsyncIterable<Buffer>) => {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
};

test('downloads and uploads blobs over one kept-alive connection', async () => {
  const cid = 'c'.repeat(64);
  const bytes = Buffer.alloc(200_000, 3);
  // A connection returns to the pool just after its response ends.
  const pooled = () => new Promise((r) => setImmediate(r));
  await blobs.put(cid, bytes);
  await pooled();
  assert.deepEqual(await read(await blobs.get(cid)), bytes);
  await pooled();
  assert.deepEqual(await read(await blobs.get('a'.repeat(64))), stored.get('a'.repeat(64)));
  assert.equal(sockets.size, 1, 'every request reused the first connection');
});

test("a coordinator's error answer is its PlexusError", async () => {
  await assert.rejects(
    blobs.get('d'.repeat(64)),
    (e) => isPlexusError(e) && e.code === 'PLX_NOT_FOUND' && /no blob/.test(e.message),
  );
});

test('an abort stops a download midway', async () => {
  const ac = new AbortController();
  const res = await blobs.get('b'.repeat(64), ac.signal);
  setTimeout(() => ac.abort(new Error('gone')), 20);
  await assert.rejects(read(res));
  await assert.rejects(blobs.get('a'.repeat(64), AbortSignal.abort()), { name: 'AbortError' });
});

test('redirects are followed, the upload re-sent to the new location', async () => {
  const moved = createBlobHttp(`http://127.0.0.1:${(server.address() as AddressInfo).port}/moved`);
  try {
    const cid = 'e'.repeat(64);
    const bytes = Buffer.alloc(1000, 9);
    await moved.put(cid, bytes);
    assert.deepEqual(stored.get(cid), bytes);
    assert.deepEqual(await read(await moved.get(cid)), bytes);
  } finally {
    moved.close();
  }
});

test('every request carries the signed x-plexus-auth header: BlobRead for a download, BlobUpload with the size for an upload', async () => {
  const signed = createBlobHttp(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    auth: async (cid, size) => (size === undefined ? `read ${cid}` : `upload ${cid} ${size}`),
  });
  try {
    const cid = 'd'.repeat(64);
    await signed.put(cid, Buffer.alloc(1234, 1));
    assert.equal(authSeen.get(`PUT ${cid}`), `upload ${cid} 1234`);
    await read(await signed.get(cid));
    assert.equal(authSeen.get(`GET ${cid}`), `read ${cid}`);
    // Unsigned without the option (public data only).
    await read(await blobs.get(cid));
    assert.equal(authSeen.get(`GET ${cid}`), undefined);
  } finally {
    signed.close();
  }
});

test("a granted lease token replaces the read's signature; a refused or expired one falls back to signing", async () => {
  let signatures = 0;
  const agent = createBlobHttp(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    auth: async (cid) => {
      signatures++;
      return `read ${cid}`;
    },
  });
  try {
    const cid = 'a'.repeat(64);
    agent.grant([cid], 'cap1.good', 60_000);
    assert.equal((await read(await agent.get(cid))).length, 300_000);
    assert.equal(authSeen.get(`GET ${cid}`), 'cap1.good');
    assert.equal(signatures, 0, 'nothing signed');
    // Refused (the lease ended): the same read is signed, and the grant is dropped.
    agent.grant([cid], 'cap1.refused', 60_000);
    assert.equal((await read(await agent.get(cid))).length, 300_000);
    assert.equal(authSeen.get(`GET ${cid}`), `read ${cid}`);
    assert.equal(signatures, 1);
    await read(await agent.get(cid));
    assert.equal(signatures, 2, 'the refused token is not tried again');
    // Expired: signed without trying it.
    agent.grant([cid], 'cap1.good', -1);
    await read(await agent.get(cid));
    assert.equal(authSeen.get(`GET ${cid}`), `read ${cid}`);
    assert.equal(signatures, 3);
  } finally {
    agent.close();
  }
});

test('an input sent inside its assignment is read once without a request; the next read downloads', async () => {
  const cid = 'd'.repeat(64);
  stored.set(cid, Buffer.from('from the server'));
  authSeen.delete(`GET ${cid}`);
  blobs.preload(cid, Buffer.from('sent inside the assignment'), 60_000);
  assert.equal((await read(await blobs.get(cid))).toString(), 'sent inside the assignment');
  assert.equal(authSeen.has(`GET ${cid}`), false, 'no request was made');
  assert.equal((await read(await blobs.get(cid))).toString(), 'from the server', 'kept for one read only');
  // Held past its lease: downloaded instead.
  blobs.preload(cid, Buffer.from('stale'), -1);
  assert.equal((await read(await blobs.get(cid))).toString(), 'from the server');
});

test('with replicas, a read refused by a dead replica goes to the replica the session moved to', async () => {
  // A port nobody listens on: the replica in use just died.
  const dead = http.createServer();
  dead.listen(0, '127.0.0.1');
  await once(dead, 'listening');
  const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise<void>((r) => dead.close(() => r()));
  const live = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let base = deadUrl;
  const replicas = createBlobHttp(() => base);
  try {
    // The session moves to the live replica a moment later.
    setTimeout(() => {
      base = live;
    }, 700);
    const res = await replicas.get('a'.repeat(64));
    let size = 0;
    for await (const c of res) size += (c as Buffer).length;
    assert.equal(size, 300_000);
    // With one coordinator URL (a string) a refused connection is an error at once.
    await assert.rejects(createBlobHttp(deadUrl).get('a'.repeat(64)), /ECONNREFUSED/);
  } finally {
    replicas.close();
  }
});

test('with replicas, a read broken off midway by a dying replica continues on the replica the session moved to', async () => {
  const blob = Buffer.alloc(1_000_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) & 0xff;
  const cid = 'c'.repeat(64);
  /** A replica serving `blob`; `dies` sends about half of it and then drops the connection. */
  async function replica(dies: boolean) {
    const srv = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': blob.length });
      if (!dies) {
        res.end(blob);
        return;
      }
      res.write(blob.subarray(0, 400_000), () => setTimeout(() => req.socket.destroy(), 50));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return { srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
  }
  const dying = await replica(true);
  const next = await replica(false);
  let base = dying.url;
  const replicas = createBlobHttp(() => base);
  try {
    const res = await replicas.get(cid);
    const chunks: Buffer[] = [];
    let moved = false;
    for await (const c of res) {
      chunks.push(c as Buffer);
      // The session moves once the dying replica's bytes are in.
      if (!moved) {
        moved = true;
        setTimeout(() => {
          base = next.url;
        }, 300);
      }
    }
    assert.ok(Buffer.concat(chunks).equals(blob), 'every byte once, in order');
    // With one coordinator URL the broken body is an error for the reader, as before.
    const single = createBlobHttp(dying.url);
    try {
      const body = await single.get(cid);
      await assert.rejects(async () => {
        for await (const _ of body);
      });
    } finally {
      single.close();
    }
  } finally {
    replicas.close();
    dying.srv.closeAllConnections();
    next.srv.closeAllConnections();
    dying.srv.close();
    next.srv.close();
  }
});
