import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { type ChunkSource, createBlobCache, isChunkSource } from '../cache/createBlobCache.ts';
import { createBlobHttp } from './blobHttp.ts';
import { BATCH_BYTES } from './fastBlobGet.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Bytes that differ everywhere (a shifted or repeated batch would not hash right). */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return b;
}
const big = pattern(2 * BATCH_BYTES + 12_345, 1);
const small = pattern(70_000, 2);
/** Small enough to arrive in the same read as the response head. */
const tiny = pattern(300, 3);
const empty = Buffer.alloc(0);
const big2 = pattern(BATCH_BYTES + 777, 4);
const stored = new Map([big, small, tiny, empty, big2].map((b) => [sha(b), b]));
const sockets = new Set<unknown>();
const authSeen: (string | undefined)[] = [];
/** How the next answer misbehaves, once. */
let trick: 'lie' | 'short' | 'huge' | 'stall' | 'chunked' | 'close' | undefined;

const server = http.createServer((req, res) => {
  sockets.add(req.socket);
  const cid = req.url!.split('/').pop()!;
  authSeen.push(req.headers['x-plexus-auth'] as string | undefined);
  if (req.headers['x-plexus-auth'] === 'cap1.refused') {
    res
      .writeHead(403, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'PLX_BLOB_FORBIDDEN', message: 'lease ended' } }));
    return;
  }
  const blob = stored.get(cid);
  if (!blob) {
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'PLX_NOT_FOUND', message: `no blob ${cid}` } }));
    return;
  }
  const now = trick;
  trick = undefined;
  if (now === 'huge') {
    // Declares far more than a cache accepts, and never sends it.
    res.writeHead(200, { 'content-length': 10 ** 12 });
    res.write(blob.subarray(0, 1000));
    return;
  }
  if (now === 'chunked') {
    // No content-length: a transfer coding this path does not read (node:http does).
    res.writeHead(200);
    res.write(blob.subarray(0, 1000));
    setImmediate(() => res.end(blob.subarray(1000)));
    return;
  }
  res.writeHead(200, { 'content-length': blob.length, ...(now === 'close' ? { connection: 'close' } : {}) });
  if (now === 'lie') res.end(Buffer.alloc(blob.length, 7));
  else if (now === 'short') res.write(blob.subarray(0, BATCH_BYTES + 5), () => req.socket.destroy());
  else if (now === 'stall') res.write(blob.subarray(0, 1000));
  else res.end(blob);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const root = join(tmpdir(), `plexus-fastget-${process.pid}`);
let dirs = 0;
after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(root, { recursive: true, force: true });
});

/** Every byte of a ChunkSource (each batch copied: its buffer is reused). */
async function bytesOf(source: ChunkSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  await source.chunks((b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

test('downloads over plain http arrive as batches in reused buffers, over one kept-alive connection', async () => {
  const blobs = createBlobHttp(base);
  try {
    sockets.clear();
    for (const b of [big, small, big]) {
      const source = await blobs.source(sha(b));
      assert.ok(isChunkSource(source), 'a ChunkSource, not a stream');
      assert.equal(source.size, b.length);
      assert.ok((await bytesOf(source)).equals(b), 'every byte once, in order');
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(sockets.size, 1, 'every download reused the first connection');
    // Through the blob cache: hashed and written batch by batch.
    const dir = join(root, `c${++dirs}`);
    const cache = createBlobCache({
      dir,
      budgetBytes: 10 * big.length,
      fetchBlob: (cid, signal) => blobs.source(cid, signal),
      logger: pino({ level: 'silent' }),
    });
    assert.ok((await readFile(await cache.get(sha(big)))).equals(big), 'the cached file is the blob');
  } finally {
    blobs.close();
  }
});

test('a task input of several MB reaches the reader in cache-sized batches (hashed and written while they are hot)', async () => {
  // 6 MB: a task input of 8 images of 640×96. Each batch is hashed and then written: one that
  // fits the core's cache is read from it twice; a 4 MiB one came from memory both times
  // (docs/benchmarks.md, "cost per byte": 1.62–2.10 → 1.40–1.52 ms of agent CPU per MB).
  const input = pattern(6_000_000, 5);
  stored.set(sha(input), input);
  const blobs = createBlobHttp(base);
  try {
    const source = await blobs.source(sha(input));
    assert.ok(isChunkSource(source), 'the lean GET hands the cache a chunk source');
    const sizes: number[] = [];
    const parts: Buffer[] = [];
    await source.chunks((b) => {
      sizes.push(b.length);
      parts.push(Buffer.from(b));
    });
    assert.ok(Buffer.concat(parts).equals(input), 'every byte once, in order');
    assert.ok(Math.max(...sizes) <= 1024 * 1024, `batches of at most 1 MiB: ${Math.max(...sizes)}`);
    assert.ok(sizes.length >= 6, `${sizes.length} batches`);
  } finally {
    blobs.close();
    stored.delete(sha(input));
  }
});

test('a coordinator that lies is caught by the cache: wrong bytes, an oversized length, a short body', async () => {
  const blobs = createBlobHttp(base);
  const dir = join(root, `c${++dirs}`);
  const cache = createBlobCache({
    dir,
    budgetBytes: 10 * big.length,
    maxBlobBytes: 3 * BATCH_BYTES,
    fetchBlob: (cid, signal) => blobs.source(cid, signal),
    logger: pino({ level: 'silent' }),
  });
  try {
    trick = 'lie';
    await assert.rejects(cache.get(sha(big)), (e: unknown) => isPlexusError(e, 'PLX_BLOB_DIGEST_MISMATCH'));
    trick = 'huge';
    await assert.rejects(cache.get(sha(big)), (e: unknown) => isPlexusError(e, 'PLX_PAYLOAD_TOO_LARGE'));
    trick = 'short';
    await assert.rejects(cache.get(sha(big)), /closed the connection/);
    assert.deepEqual(await readdir(dir), [], 'no file, temporary or final, is left');
    assert.equal(cache.has(sha(big)), false, 'nothing cached');
    // The next download is whole again.
    assert.ok((await readFile(await cache.get(sha(big)))).equals(big), 'fetched right afterwards');
  } finally {
    blobs.close();
  }
});

test('other answers go through node:http: an error is the PlexusError, a refused token is signed again', async () => {
  const blobs = createBlobHttp(base, { auth: async (cid) => `read ${cid}` });
  try {
    await assert.rejects(blobs.source('d'.repeat(64)), (e: unknown) => isPlexusError(e, 'PLX_NOT_FOUND'));
    blobs.grant([sha(small)], 'cap1.refused', 60_000);
    authSeen.length = 0;
    const source = await blobs.source(sha(small));
    const got = isChunkSource(source) ? await bytesOf(source) : undefined;
    const streamed: Buffer[] = [];
    if (!isChunkSource(source)) for await (const c of source) streamed.push(c as Buffer);
    assert.ok((got ?? Buffer.concat(streamed)).equals(small), 'the blob, read with a signature');
    assert.deepEqual(authSeen, ['cap1.refused', 'cap1.refused', `read ${sha(small)}`]);
  } finally {
    blobs.close();
  }
});

test('an abort stops a download midway; the next one opens a fresh connection', async () => {
  const blobs = createBlobHttp(base);
  try {
    const ac = new AbortController();
    trick = 'stall';
    const source = await blobs.source(sha(big), ac.signal);
    assert.ok(isChunkSource(source), 'a ChunkSource');
    setTimeout(() => ac.abort(new Error('gone')), 20);
    await assert.rejects(bytesOf(source), /gone/);
    await assert.rejects(blobs.source(sha(big), AbortSignal.abort()), { name: 'AbortError' });
    const next = await blobs.source(sha(small));
    assert.ok(isChunkSource(next) && (await bytesOf(next)).equals(small), 'read whole afterwards');
  } finally {
    blobs.close();
  }
});

test('with replicas, a body broken off midway continues from the replica in use', async () => {
  const blobs = createBlobHttp(() => base);
  try {
    trick = 'short';
    const source = await blobs.source(sha(big));
    assert.ok(isChunkSource(source) && (await bytesOf(source)).equals(big), 'every byte once, in order');
  } finally {
    blobs.close();
  }
});

test('a blob that arrives with its response head frees the connection: the next download on it is answered', async () => {
  const blobs = createBlobHttp(base);
  // A hang (the old code left such a connection paused in the pool) fails here, not at 300 s.
  const deadline = AbortSignal.timeout(30_000);
  try {
    sockets.clear();
    for (const b of [tiny, empty, big, tiny, small, empty, big2]) {
      const source = await blobs.source(sha(b), deadline);
      assert.ok(isChunkSource(source), `a ChunkSource for ${b.length} bytes`);
      assert.equal(source.size, b.length);
      assert.ok((await bytesOf(source)).equals(b), `the ${b.length} bytes, whole`);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(sockets.size, 1, 'one connection carried every download');
  } finally {
    blobs.close();
  }
});

test('concurrent downloads of different blobs through the cache each get their own bytes', async () => {
  const blobs = createBlobHttp(base);
  const deadline = AbortSignal.timeout(60_000);
  const cache = createBlobCache({
    dir: join(root, `c${++dirs}`),
    budgetBytes: 20 * big.length,
    fetchBlob: (cid, signal) => blobs.source(cid, signal),
    logger: pino({ level: 'silent' }),
  });
  try {
    for (let round = 0; round < 3; round++) {
      const all = [big, tiny, big2, small, empty, tiny, big];
      const got = await Promise.all(all.map(async (b) => readFile(await cache.get(sha(b), deadline))));
      for (const [i, g] of got.entries())
        assert.ok(g.equals(all[i]!), `round ${round}: blob ${i} (${all[i]!.length} bytes)`);
      for (const b of all) await rm(join(root, `c${dirs}`, sha(b)), { force: true });
    }
    // Straight from the source as well (no cache between), interleaved.
    const sources = await Promise.all([big2, tiny, big, small].map((b) => blobs.source(sha(b), deadline)));
    const bodies = await Promise.all(sources.map((s) => (isChunkSource(s) ? bytesOf(s) : undefined)));
    for (const [i, b] of [big2, tiny, big, small].entries())
      assert.ok(bodies[i]?.equals(b), `source ${i} whole`);
  } finally {
    blobs.close();
  }
});

test('a chunked answer and a connection: close answer are read right; the connection after them works', async () => {
  const blobs = createBlobHttp(base);
  const deadline = AbortSignal.timeout(30_000);
  const read = async (b: Buffer) => {
    const source = await blobs.source(sha(b), deadline);
    if (isChunkSource(source)) return bytesOf(source);
    const parts: Buffer[] = [];
    for await (const c of source) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  try {
    trick = 'chunked';
    assert.ok((await read(big2)).equals(big2), 'a chunked body, through node:http');
    trick = 'close';
    assert.ok((await read(small)).equals(small), 'a body on a connection the server closes');
    trick = 'close';
    assert.ok((await read(tiny)).equals(tiny), 'a small body on a connection the server closes');
    assert.ok((await read(big)).equals(big), 'and the next one');
  } finally {
    blobs.close();
  }
});
