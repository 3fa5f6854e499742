import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { createBlobCache, type FetchBlob } from './createBlobCache.ts';

const root = await mkdtemp(join(tmpdir(), 'plexus-cache-'));
after(() => rm(root, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });
let dirs = 0;
const freshDir = () => join(root, `c${++dirs}`);

/** Retries an assertion about background file deletions for up to 2 s. */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
function blob(fill: number, size = 100): { bytes: Buffer; cid: string } {
  const bytes = Buffer.alloc(size, fill);
  return { bytes, cid: sha(bytes) };
}

/** A fake blob server: serves the blobs it holds in 3 chunks, counting fetches. */
function server(blobs: Buffer[], opts: { delayMs?: number; web?: boolean } = {}) {
  const byCid = new Map(blobs.map((b) => [sha(b), b]));
  const fetches: string[] = [];
  const fetchBlob: FetchBlob = async (cid, signal) => {
    fetches.push(cid);
    const b = byCid.get(cid);
    if (b === undefined) throw new Error(`404 ${cid}`);
    const third = Math.ceil(b.length / 3);
    const chunks = [b.subarray(0, third), b.subarray(third, 2 * third), b.subarray(2 * third)];
    async function* gen() {
      for (const c of chunks) {
        if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
        signal?.throwIfAborted();
        yield new Uint8Array(c);
      }
    }
    const node = Readable.from(gen());
    return opts.web ? (Readable.toWeb(node) as ReadableStream<Uint8Array>) : node;
  };
  return { fetchBlob, fetches, byCid };
}

test('fetches, verifies and serves a blob from disk, once', async () => {
  const a = blob(1);
  for (const web of [false, true]) {
    const s = server([a.bytes], { web });
    const cache = createBlobCache({ dir: freshDir(), budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
    assert.equal(cache.has(a.cid), false);
    const path = await cache.get(a.cid);
    assert.deepEqual(await readFile(path), a.bytes);
    assert.equal(await cache.get(a.cid), path);
    assert.deepEqual(s.fetches, [a.cid], 'the second get is a hit');
    assert.equal(cache.has(a.cid), true);
    assert.deepEqual(cache.list(), [a.cid]);
    assert.deepEqual(cache.usage(), { bytes: 100, entries: 1 });
  }
});

test('a blob whose bytes do not hash to its cid is refused and deleted', async () => {
  const a = blob(1);
  const dir = freshDir();
  const liar: FetchBlob = async () => Readable.from([Buffer.alloc(100, 2)]);
  const cache = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: liar, logger });
  await assert.rejects(cache.get(a.cid), (err: unknown) => {
    assert.ok(isPlexusError(err, 'PLX_BLOB_DIGEST_MISMATCH'), String(err));
    assert.match(err.message, new RegExp(`${a.cid} arrived with sha256 ${sha(Buffer.alloc(100, 2))}`));
    return true;
  });
  assert.deepEqual(await readdir(dir), [], 'no file, temporary or final, is left');
  assert.equal(cache.has(a.cid), false);
  assert.deepEqual(cache.usage(), { bytes: 0, entries: 0 });
});

test('bad cids, fetch failures and oversized blobs leave nothing behind', async () => {
  const a = blob(1);
  const dir = freshDir();
  const s = server([a.bytes]);
  const cache = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, maxBlobBytes: 50, logger });
  for (const bad of ['', 'ABC', a.cid.toUpperCase(), `${a.cid}0`, '../etc/passwd'])
    await assert.rejects(cache.get(bad), (err: unknown) => isPlexusError(err, 'PLX_BAD_CID'));
  assert.deepEqual(s.fetches, []);
  await assert.rejects(cache.get(blob(9).cid), /404/);
  await assert.rejects(cache.get(a.cid), (err: unknown) => isPlexusError(err, 'PLX_PAYLOAD_TOO_LARGE'));
  assert.deepEqual(await readdir(dir), []);
});

test('concurrent gets of one cid share a single download', async () => {
  const a = blob(1);
  const s = server([a.bytes], { delayMs: 10 });
  const cache = createBlobCache({ dir: freshDir(), budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  const paths = await Promise.all([
    cache.get(a.cid),
    cache.get(a.cid),
    cache.acquire(a.cid).then((l) => l.path),
  ]);
  assert.equal(new Set(paths).size, 1);
  assert.deepEqual(s.fetches, [a.cid]);
});

test('evicts the least recently used blobs to stay within the budget', async () => {
  const [a, b, c] = [blob(1), blob(2), blob(3)];
  const dir = freshDir();
  const s = server([a.bytes, b.bytes, c.bytes]);
  const cache = createBlobCache({ dir, budgetBytes: 250, fetchBlob: s.fetchBlob, logger });
  await cache.get(a.cid);
  await cache.get(b.cid);
  await cache.get(a.cid); // a is now more recent than b
  await cache.get(c.cid);
  assert.deepEqual(cache.list(), [a.cid, c.cid]);
  assert.deepEqual(cache.usage(), { bytes: 200, entries: 2 });
  await eventually(async () => assert.deepEqual((await readdir(dir)).sort(), [a.cid, c.cid].sort()));
});

test('onChange reports every blob that enters or leaves the cache, and nothing else', async () => {
  const [a, b, c] = [blob(1), blob(2), blob(3)];
  const s = server([a.bytes, b.bytes, c.bytes]);
  const changes: string[] = [];
  const cache = createBlobCache({
    dir: freshDir(),
    budgetBytes: 250,
    fetchBlob: s.fetchBlob,
    logger,
    onChange: (cid) => changes.push(`${cache.has(cid) ? '+' : '-'}${cid}`),
  });
  await cache.get(a.cid);
  await cache.get(b.cid);
  await cache.get(a.cid); // a hit changes nothing
  await cache.get(c.cid); // c comes in, then b is evicted
  await rm(await cache.get(a.cid)); // deleted behind the cache's back: gone, then fetched again
  await cache.get(a.cid);
  assert.deepEqual(changes, [`+${a.cid}`, `+${b.cid}`, `+${c.cid}`, `-${b.cid}`, `-${a.cid}`, `+${a.cid}`]);
});

test('blobs fetched at the same time under a tight budget each reach their caller', async () => {
  const [a, b, c] = [blob(1), blob(2), blob(3)];
  const s = server([a.bytes, b.bytes, c.bytes], { delayMs: 5 });
  const cache = createBlobCache({ dir: freshDir(), budgetBytes: 100, fetchBlob: s.fetchBlob, logger });
  const seen = await Promise.all(
    [a, b, c].map(({ cid, bytes }) => cache.get(cid).then((path) => readFileSync(path).equals(bytes))),
  );
  assert.deepEqual(seen, [true, true, true], 'each file was intact when its caller got the path');
  assert.equal(cache.usage().entries, 1);
});

test('a blob deleted behind the cache is fetched again', async () => {
  const a = blob(1);
  const s = server([a.bytes]);
  const cache = createBlobCache({ dir: freshDir(), budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  await rm(await cache.get(a.cid));
  assert.deepEqual(await readFile(await cache.get(a.cid)), a.bytes);
  assert.deepEqual(s.fetches, [a.cid, a.cid]);
  assert.deepEqual(cache.usage(), { bytes: 100, entries: 1 });
});

test('a pinned blob is never evicted; releasing it lets the cache shrink back', async () => {
  const [a, b, c] = [blob(1), blob(2), blob(3)];
  const s = server([a.bytes, b.bytes, c.bytes]);
  const cache = createBlobCache({ dir: freshDir(), budgetBytes: 150, fetchBlob: s.fetchBlob, logger });
  const lease = await cache.acquire(a.cid);
  await cache.get(b.cid);
  assert.deepEqual(cache.list(), [a.cid, b.cid], 'over budget: the only other blob is pinned');
  await cache.get(c.cid);
  assert.deepEqual(cache.list(), [a.cid, c.cid], 'b was evicted, pinned a was not');
  assert.deepEqual(await readFile(lease.path), a.bytes);
  lease.release();
  lease.release(); // idempotent
  assert.deepEqual(cache.list(), [c.cid]);
  assert.deepEqual(cache.usage(), { bytes: 100, entries: 1 });
});

test('rebuilds its index from the directory after a restart', async () => {
  const [a, b] = [blob(1), blob(2, 300)];
  const dir = freshDir();
  const s = server([a.bytes, b.bytes]);
  const first = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  await first.get(b.cid);
  await first.get(a.cid);
  // Make the recency on disk unambiguous: b older than a.
  await utimes(join(dir, b.cid), new Date(1_000_000), new Date(1_000_000));
  await utimes(join(dir, a.cid), new Date(2_000_000), new Date(2_000_000));
  await writeFile(join(dir, `.${a.cid}.deadbeef.tmp`), 'half a download');
  await writeFile(join(dir, 'README'), 'not a blob');

  const second = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  assert.deepEqual(second.list(), [b.cid, a.cid]);
  assert.deepEqual(second.usage(), { bytes: 400, entries: 2 });
  assert.deepEqual(await readFile(await second.get(a.cid)), a.bytes);
  assert.equal(s.fetches.length, 2, 'nothing fetched again');
  assert.deepEqual(
    (await readdir(dir)).sort(),
    [a.cid, b.cid, 'README'].sort(),
    'the stale temp file is gone',
  );
});

test('one caller aborting does not cancel a download another caller waits for', async () => {
  const [a, b] = [blob(1), blob(2)];
  const dir = freshDir();
  const s = server([a.bytes, b.bytes], { delayMs: 20 });
  // Cancel at once when nobody waits (finishing abandoned downloads is tested below).
  const finishAbandoned = { max: 0, withinMs: 60_000 };
  const cache = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, logger, finishAbandoned });
  const ac = new AbortController();
  const quitter = cache.get(a.cid, ac.signal);
  const stayer = cache.get(a.cid);
  ac.abort(new Error('changed my mind'));
  await assert.rejects(quitter, /changed my mind/);
  assert.deepEqual(await readFile(await stayer), a.bytes);

  const alone = new AbortController();
  const pending = cache.get(b.cid, alone.signal);
  setTimeout(() => alone.abort(new Error('gone')), 5);
  await assert.rejects(pending, /gone/);
  // The temporary file is removed as the aborted pipeline unwinds, just after the caller is told.
  const deadline = Date.now() + 2000;
  while ((await readdir(dir)).length > 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(cache.has(b.cid), false);
  assert.deepEqual(await readdir(dir), [a.cid], 'the aborted download left no temporary file');
  await assert.rejects(cache.get(b.cid, AbortSignal.abort()), { name: 'AbortError' });
});

test('a file found at start-up is hashed on first use: a wrong one is fetched again, a good one is not', async () => {
  const [a, b] = [blob(1), blob(2, 300)];
  const dir = freshDir();
  const s = server([a.bytes, b.bytes]);
  const first = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  await first.get(a.cid);
  await first.get(b.cid);
  // What a machine crash can leave of an unsynced write: the name, the size, not the bytes.
  await writeFile(join(dir, a.cid), Buffer.alloc(a.bytes.length, 0));

  const second = createBlobCache({ dir, budgetBytes: 1000, fetchBlob: s.fetchBlob, logger });
  const [x, y] = await Promise.all([second.get(a.cid), second.get(a.cid)]);
  assert.deepEqual(await readFile(x), a.bytes);
  assert.equal(x, y);
  assert.deepEqual(await readFile(await second.get(b.cid)), b.bytes);
  assert.deepEqual(s.fetches, [a.cid, b.cid, a.cid], 'only the damaged blob is fetched again, once');
  assert.deepEqual(second.usage(), { bytes: 400, entries: 2 });
});

/** A blob server whose responses send their first half, then wait until the test lets them finish. */
function gatedServer(blobs: Buffer[]) {
  const byCid = new Map(blobs.map((b) => [sha(b), b]));
  const gates = new Map<string, () => void>();
  const aborted: string[] = [];
  const fetchBlob: FetchBlob = async (cid, signal) => {
    const b = byCid.get(cid);
    if (b === undefined) throw new Error(`404 ${cid}`);
    const open = new Promise<void>((r) => gates.set(cid, r));
    signal?.addEventListener('abort', () => aborted.push(cid), { once: true });
    async function* gen() {
      yield new Uint8Array(b!.subarray(0, b!.length / 2));
      await open;
      signal?.throwIfAborted();
      yield new Uint8Array(b!.subarray(b!.length / 2));
    }
    return Readable.from(gen());
  };
  const started = async (cid: string) => {
    await eventually(async () => assert.ok(gates.has(cid), `the download of ${cid} started`));
  };
  return { fetchBlob, gates, aborted, started };
}

test('a download every caller gave up on is finished into the cache, within limits', async () => {
  const [a, b, c] = [blob(1), blob(2), blob(3)];
  const dir = freshDir();
  const s = gatedServer([a.bytes, b.bytes, c.bytes]);
  const entered: string[] = [];
  const cache = createBlobCache({
    dir,
    budgetBytes: 1000,
    fetchBlob: s.fetchBlob,
    logger,
    finishAbandoned: { max: 1, withinMs: 60_000 },
    onChange: (cid) => entered.push(cid),
  });
  // A lease runs out while its model is half downloaded: the caller is told at once...
  const lease = new AbortController();
  const first = cache.get(a.cid, lease.signal);
  await s.started(a.cid);
  lease.abort(new Error('lease expired'));
  await assert.rejects(first, /lease expired/);
  // ...and a second abandoned download, over the limit of one, is cancelled.
  const other = new AbortController();
  const second = cache.get(b.cid, other.signal);
  await s.started(b.cid);
  other.abort(new Error('lease expired'));
  await assert.rejects(second, /lease expired/);
  assert.deepEqual(s.aborted, [b.cid], 'only the download over the limit was cancelled');
  // The first one finishes into the cache: the next lease finds the model there.
  s.gates.get(a.cid)?.();
  await eventually(async () => assert.ok(cache.has(a.cid), 'the abandoned download reached the cache'));
  assert.deepEqual(await readFile(await cache.get(a.cid)), a.bytes);
  assert.equal(cache.has(b.cid), false, 'the cancelled one did not');
  assert.deepEqual(entered, [a.cid], 'one blob entered the cache');

  // A caller coming back to an abandoned download waits for it; close() stops one nobody waits for.
  const third = new AbortController();
  const gone = cache.get(c.cid, third.signal);
  await s.started(c.cid);
  third.abort(new Error('lease expired'));
  await assert.rejects(gone, /lease expired/);
  const back = cache.get(c.cid);
  cache.close();
  await assert.rejects(back, { name: 'AbortError' });
  assert.ok(s.aborted.includes(c.cid), 'close() stopped the download');
  assert.equal(cache.has(c.cid), false, 'nothing half-written entered the cache');
});

test('an abandoned download that runs past its time is stopped', async () => {
  const a = blob(4);
  const s = gatedServer([a.bytes]);
  const cache = createBlobCache({
    dir: freshDir(),
    budgetBytes: 1000,
    fetchBlob: s.fetchBlob,
    logger,
    finishAbandoned: { max: 2, withinMs: 50 },
  });
  const lease = new AbortController();
  const pending = cache.get(a.cid, lease.signal);
  await s.started(a.cid);
  lease.abort(new Error('lease expired'));
  await assert.rejects(pending, /lease expired/);
  await eventually(async () => assert.deepEqual(s.aborted, [a.cid], 'stopped after its time ran out'));
  s.gates.get(a.cid)?.();
  assert.equal(cache.has(a.cid), false, 'the stopped download did not reach the cache');
});

test("one blob's bound can follow the coordinator's (the agent's welcome): a bigger blob is refused, nothing kept", async () => {
  const big = blob(7, 200);
  const small = blob(8, 100);
  const dir = freshDir();
  const s = server([big.bytes, small.bytes]);
  let bound = 150;
  const cache = createBlobCache({
    dir,
    budgetBytes: 10_000,
    fetchBlob: s.fetchBlob,
    maxBlobBytes: () => bound,
    logger,
  });
  await assert.rejects(cache.get(big.cid), (err: unknown) => isPlexusError(err, 'PLX_PAYLOAD_TOO_LARGE'));
  assert.deepEqual(await readdir(dir), [], 'nothing kept of the refused blob');
  assert.ok((await cache.get(small.cid)).length > 0, 'a blob within the bound is cached');
  bound = 250;
  assert.ok((await cache.get(big.cid)).length > 0, 'the bound raised (a new welcome): the blob is taken');
});
