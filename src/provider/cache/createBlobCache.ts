/**
 * The provider's content-addressed disk cache of blobs (models, input tensors), keyed by sha256.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writevSync,
} from 'node:fs';
import { type FileHandle, open, rename, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, finished, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PlexusError } from '../../errors/PlexusError.ts';
import { createLogger, type Logger } from '../../logger.ts';
import { isCid } from '../../protocol/ids.ts';

/**
 * A blob body whose bytes are handed over in batches, each valid only during the call (its
 * buffer is reused for the next batch): the reader must consume it synchronously.
 *
 * @example await source.chunks((batch) => { hash.update(batch); writeSync(fd, batch); });
 */
export type ChunkSource = {
  /** The body's length (its content-length): a reader can refuse an oversized blob before a byte. */
  size: number;
  /**
   * Hands every byte over, in order, in batches; resolves after the last. A throw from `onChunk`
   * stops the read (the connection is closed) and rejects with what it threw.
   */
  chunks(onChunk: (batch: Buffer) => void): Promise<void>;
  /** The body will not be read (refused on its size): frees the connection it holds. */
  discard?(): void;
};

/** Whether `body` is a ChunkSource (rather than a stream). */
export function isChunkSource(body: unknown): body is ChunkSource {
  return typeof (body as ChunkSource | undefined)?.chunks === 'function';
}

/**
 * Fetches a blob's bytes from wherever blobs live (the coordinator's blob API, in practice).
 *
 * @example
 * const fetchBlob: FetchBlob = async (cid, signal) => (await fetch(`${base}/v1/blobs/${cid}`, { signal })).body!;
 */
export type FetchBlob = (
  cid: string,
  signal?: AbortSignal,
) => Promise<ReadableStream<Uint8Array> | NodeJS.ReadableStream | ChunkSource>;

/**
 * How a cache is built.
 *
 * @example
 * const options: BlobCacheOptions = { dir: '/var/lib/plexus/blobs', budgetBytes: 2 ** 34, fetchBlob };
 */
export type BlobCacheOptions = {
  /** Directory the blobs live in (created if missing); one file per blob, named by its cid. */
  dir: string;
  /** Bytes the cache tries to stay under; least recently used, unpinned blobs are evicted first. */
  budgetBytes: number;
  fetchBlob: FetchBlob;
  /** Largest single blob accepted, or a function answering it now (default: no limit beyond the budget logic). */
  maxBlobBytes?: number | (() => number);
  /**
   * Called (synchronously) when a blob enters or leaves the cache, so a provider can tell the
   * coordinator what changed without listing the whole cache after every task.
   */
  onChange?: (cid: string) => void;
  /**
   * Downloads kept going after every caller gave up (a task's lease ran out or was cancelled
   * mid-download): at most `max` at once, each for at most `withinMs` more (default 2 and 10 min).
   * Cancelling them would make a provider whose first download of a large model outlasts the lease
   * start from zero at every lease, and never warm up. The read itself stays bounded by what the
   * coordinator allows (a resumed request needs a lease again). `max: 0` cancels at once.
   */
  finishAbandoned?: { max: number; withinMs: number };
  logger?: Logger;
};

/**
 * A blob held in the cache until `release()` is called.
 *
 * @example
 * const lease: BlobLease = await cache.acquire(cid);
 * lease.release();
 */
export type BlobLease = { path: string; release(): void };

/**
 * The cache.
 *
 * @example
 * const cache: BlobCache = createBlobCache({ dir, budgetBytes, fetchBlob });
 */
export type BlobCache = {
  /** Path of the blob's file, downloading and verifying it first when needed. Holds no pin: use the file at once, or use `acquire`. */
  get(cid: string, signal?: AbortSignal): Promise<string>;
  /** Like `get`, and the blob cannot be evicted until the lease is released. */
  acquire(cid: string, signal?: AbortSignal): Promise<BlobLease>;
  /** True when the blob is on disk now. */
  has(cid: string): boolean;
  /** Cids on disk, least recently used first (what a provider advertises). */
  list(): string[];
  usage(): { bytes: number; entries: number };
  /** Stops every download under way (abandoned ones included); what is on disk stays. */
  close(): void;
};

type Entry = {
  size: number;
  pins: number;
  /** When the file's mtime was last set to mark a use (ms since the epoch; 0: not by this process). */
  touchedAt?: number;
  /**
   * Set for a file found on disk at start-up until its bytes have been hashed again: downloads are
   * not fsynced, so after a machine crash a file can have its name without all of its bytes.
   */
  unverified?: Promise<boolean> | true;
};

/**
 * A hit refreshes the blob's file mtime (its recency after a restart) at most this often: a model
 * is hit by every task, and each update is a round trip through libuv's thread pool. Within the
 * window only the order after a restart can be off, never what is in the cache.
 */
const TOUCH_INTERVAL_MS = 10_000;

/** Bytes of a download held in memory before they are written to its file. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/** Whether the file's sha256 is `cid` (read in 4 MiB pieces: a model can be gigabytes). */
async function fileHashes(path: string, cid: string): Promise<boolean> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: WRITE_BATCH_BYTES }))
      hash.update(chunk);
  } catch {
    return false;
  }
  return hash.digest('hex') === cid;
}

/**
 * Reads a stream to its end through 'data' events (lighter than an async iterator: a blob is
 * dozens of chunks), handing each chunk to `onChunk`; while a promise it returns is pending the
 * stream is paused. Rejects with the stream's error (an abort, a connection reset, a premature
 * close) or with what `onChunk` throws.
 */
function consume(source: Readable, onChunk: (buf: Uint8Array) => Promise<void> | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    let pending: Promise<void> | undefined;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(err);
    };
    source.on('data', (chunk: Uint8Array | string) => {
      if (failed) return;
      try {
        const p = onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        if (p === undefined) return;
        source.pause();
        pending = p.then(() => {
          pending = undefined;
          if (!failed) source.resume();
        }, fail);
      } catch (err) {
        fail(err);
      }
    });
    finished(source, (err) => {
      if (err) fail(err);
      else if (pending === undefined) resolve();
      else pending.then(() => (failed ? undefined : resolve()));
    });
  });
}

function writeAllSync(fd: number, chunks: Uint8Array[]): void {
  let rest = chunks;
  while (rest.length > 0) {
    let written = writevSync(fd, rest);
    while (rest.length > 0 && written >= rest[0]!.byteLength) {
      written -= rest[0]!.byteLength;
      rest = rest.slice(1);
    }
    if (written > 0) rest = [rest[0]!.subarray(written), ...rest.slice(1)];
  }
}

/** Writes every byte of `chunks` at the file's current position (writev may write less). */
async function writeAll(file: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let { bytesWritten } = await file.writev(rest);
    while (rest.length > 0 && bytesWritten >= rest[0]!.byteLength) {
      bytesWritten -= rest[0]!.byteLength;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  }
}

type Download = {
  promise: Promise<Entry>;
  controller: AbortController;
  waiters: number;
  /** Set while nobody waits and the download is finished anyway (`finishAbandoned`). */
  abandonTimer?: NodeJS.Timeout;
};

/** See `BlobCacheOptions.finishAbandoned`. */
const FINISH_ABANDONED = { max: 2, withinMs: 10 * 60_000 };

/**
 * Creates a content-addressed blob cache. A miss streams the blob from `fetchBlob` into a temporary
 * file while hashing it; the file is renamed to its cid only when its sha256 equals the cid (else
 * `PLX_BLOB_DIGEST_MISMATCH` and the bytes are deleted), so while this process runs a file named by
 * a cid is complete and correct. Files are not fsynced (a sync per task input cost the provider more
 * than the rest of the write): a file found on disk at start-up is hashed again on its first use,
 * and fetched again if a machine crash (or anything else) left it wrong. Concurrent requests for one cid share one download (it
 * is aborted only when every caller has given up). After each insertion, least recently used
 * blobs are deleted until usage fits `budgetBytes`, skipping pinned ones (`acquire` pins until
 * `release`; a blob being handed to its waiting callers is pinned until they have it), so the
 * budget can be exceeded only by blobs in use. A hit checks that the file is still there (and
 * fetches it again if someone deleted it).
 * The index is rebuilt from the directory when the cache is created (recency from file mtimes,
 * which a hit refreshes, at most every TOUCH_INTERVAL_MS); leftover temporary files from a crash
 * are removed, so one directory belongs to one cache (one provider process) at a time.
 *
 * @example
 * const cache = createBlobCache({ dir: join(dataDir, 'blobs'), budgetBytes: 10 * 2 ** 30, fetchBlob });
 * const lease = await cache.acquire(modelCid);
 * try { await runtime.run(lease.path, inputs); } finally { lease.release(); }
 */
export function createBlobCache(options: BlobCacheOptions): BlobCache {
  const { dir, budgetBytes, fetchBlob } = options;
  const log = options.logger ?? createLogger('blob-cache');
  if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0)
    throw new RangeError('budgetBytes must be a non-negative integer');
  const maxOf = options.maxBlobBytes ?? Number.POSITIVE_INFINITY;
  const changed = options.onChange ?? (() => {});
  const finishAbandoned = options.finishAbandoned ?? FINISH_ABANDONED;
  let abandonedNow = 0;
  let closed = false;

  // Map iteration order is the LRU order: a hit deletes and re-inserts its entry.
  const index = new Map<string, Entry>();
  const downloads = new Map<string, Download>();
  let bytes = 0;

  mkdirSync(dir, { recursive: true });
  const found: { cid: string; size: number; mtimeMs: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.endsWith('.tmp')) {
      unlinkSync(path);
      continue;
    }
    if (!isCid(name)) continue;
    const st = statSync(path);
    if (st.isFile()) found.push({ cid: name, size: st.size, mtimeMs: st.mtimeMs });
  }
  found.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const f of found) {
    index.set(f.cid, { size: f.size, pins: 0, unverified: true });
    bytes += f.size;
  }

  const pathOf = (cid: string) => join(dir, cid);

  function touch(cid: string, entry: Entry): void {
    index.delete(cid);
    index.set(cid, entry);
    const now = Date.now();
    if (now - (entry.touchedAt ?? 0) < TOUCH_INTERVAL_MS) return;
    entry.touchedAt = now;
    // Recency survives a restart through the file's mtime; losing an update only costs LRU accuracy.
    const date = new Date(now);
    utimes(pathOf(cid), date, date).catch(() => {});
  }

  // Index and directory change together, synchronously: the victim is renamed out of its cid's
  // name at once (cheap), so a download of the same cid that starts right after cannot have its
  // fresh file deleted by a late unlink; the renamed file is then deleted in the background.
  function evict(): void {
    for (const [cid, entry] of index) {
      if (bytes <= budgetBytes) return;
      if (entry.pins > 0) continue;
      index.delete(cid);
      bytes -= entry.size;
      changed(cid);
      const doomed = join(dir, `.${cid}.${randomBytes(6).toString('hex')}.evicted.tmp`);
      try {
        renameSync(pathOf(cid), doomed);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          log.warn({ cid, err: (err as Error).message }, 'could not evict a blob');
        continue;
      }
      unlink(doomed).catch((err: Error) =>
        log.warn({ cid, err: err.message }, 'could not delete an evicted blob'),
      );
      log.debug({ cid, size: entry.size }, 'evicted blob');
    }
    if (bytes > budgetBytes)
      log.warn({ bytes, budgetBytes }, 'blob cache over budget: every other blob is in use');
  }

  async function download(cid: string, signal: AbortSignal): Promise<Entry> {
    const tmp = join(dir, `.${cid}.${randomBytes(6).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    let file: FileHandle | undefined;
    let created = false;
    const maxBlobBytes = typeof maxOf === 'function' ? maxOf() : maxOf;
    /** Refuses bytes that do not hash to the cid (before the file gets its name). */
    const verified = (digest: string, n: number) => {
      if (digest !== cid)
        throw new PlexusError(
          'PLX_BLOB_DIGEST_MISMATCH',
          `blob ${cid} arrived with sha256 ${digest} (${n} bytes)`,
          {
            details: { cid, digest, size: n },
          },
        );
    };
    try {
      const body = await fetchBlob(cid, signal);
      if (isChunkSource(body)) {
        // Batches of up to 512 KiB in a buffer the source reuses: hashed and written (synchronously,
        // page-cache work) before the next read lands in it; no chunk is kept.
        let fd: number;
        try {
          if (body.size > maxBlobBytes)
            throw new PlexusError(
              'PLX_PAYLOAD_TOO_LARGE',
              `blob ${cid} is larger than ${maxBlobBytes} bytes`,
            );
          created = true;
          fd = openSync(tmp, 'wx');
        } catch (err) {
          // Not read: the connection that holds the body is freed now, not at its idle timeout.
          body.discard?.();
          throw err;
        }
        try {
          await body.chunks((buf) => {
            size += buf.length;
            if (size > maxBlobBytes)
              throw new PlexusError(
                'PLX_PAYLOAD_TOO_LARGE',
                `blob ${cid} is larger than ${maxBlobBytes} bytes`,
              );
            hash.update(buf);
            writeAllSync(fd, [buf]);
          });
        } finally {
          closeSync(fd);
        }
        signal.throwIfAborted();
        verified(hash.digest('hex'), size);
        renameSync(tmp, pathOf(cid));
      } else {
        const source =
          typeof (body as ReadableStream<Uint8Array>).getReader === 'function'
            ? Readable.fromWeb(body as WebReadableStream<Uint8Array>)
            : body instanceof Readable
              ? body
              : Readable.from(body as AsyncIterable<Uint8Array>);
        // An abort destroys the source, which fails `consume` with the abort's error.
        addAbortSignal(signal, source);
        // Chunks are held until WRITE_BATCH_BYTES have arrived, then written at once: a task input
        // is a dozen chunks, and each file operation is a round trip through libuv's thread pool.
        let batch: Uint8Array[] = [];
        let batchBytes = 0;
        await consume(source, (buf) => {
          size += buf.length;
          if (size > maxBlobBytes)
            throw new PlexusError(
              'PLX_PAYLOAD_TOO_LARGE',
              `blob ${cid} is larger than ${maxBlobBytes} bytes`,
            );
          hash.update(buf);
          batch.push(buf);
          batchBytes += buf.length;
          if (batchBytes < WRITE_BATCH_BYTES) return undefined;
          const full = batch;
          batch = [];
          batchBytes = 0;
          return (async () => {
            created = true;
            file ??= await open(tmp, 'wx');
            await writeAll(file, full);
          })();
        });
        signal.throwIfAborted();
        verified(hash.digest('hex'), size);
        // Written in full before it gets its name: a file named by a cid is complete (what a machine
        // crash can still lose is caught by the hash check at the next start).
        if (file === undefined) {
          // The whole blob is in `batch` (a task input, typically): created, written and closed
          // synchronously (page cache work of well under a millisecond).
          created = true;
          const fd = openSync(tmp, 'wx');
          try {
            writeAllSync(fd, batch);
          } finally {
            closeSync(fd);
          }
          renameSync(tmp, pathOf(cid));
        } else {
          await writeAll(file, batch);
          await file.close();
          file = undefined;
          await rename(tmp, pathOf(cid));
        }
      }
    } catch (err) {
      await file?.close().catch(() => {});
      if (created) await unlink(tmp).catch(() => {});
      throw err;
    }
    const entry: Entry = { size, pins: 0 };
    index.set(cid, entry);
    bytes += size;
    changed(cid);
    log.debug({ cid, size }, 'cached blob');
    return entry;
  }

  /** Lets an abandoned download go on without the time limit: someone waits for it again (or it ended). */
  function adopt(d: Download): void {
    if (d.abandonTimer === undefined) return;
    clearTimeout(d.abandonTimer);
    delete d.abandonTimer;
    abandonedNow--;
  }

  function abandon(cid: string, d: Download, reason: unknown): void {
    if (closed || abandonedNow >= finishAbandoned.max) {
      d.controller.abort(reason);
      return;
    }
    abandonedNow++;
    d.abandonTimer = setTimeout(
      () => d.controller.abort(new Error(`abandoned download of ${cid} ran out of time`)),
      finishAbandoned.withinMs,
    );
    d.abandonTimer.unref();
    log.info({ cid }, 'nobody waits for this download any more: finishing it into the cache');
  }

  /** Downloads (or joins the download of) a blob; resolves with its entry, pinned once for this caller. */
  async function fetchShared(cid: string, signal?: AbortSignal): Promise<Entry> {
    signal?.throwIfAborted();
    let d = downloads.get(cid);
    if (d === undefined) {
      const controller = new AbortController();
      const created: Download = {
        controller,
        waiters: 0,
        promise: download(cid, controller.signal)
          .then((entry) => {
            // One pin per caller still waiting, taken before any of them resumes, so that eviction
            // (of this or a concurrent insertion) cannot delete the file before they get its path.
            entry.pins += created.waiters;
            evict();
            return entry;
          })
          .finally(() => {
            downloads.delete(cid);
            adopt(created);
          }),
      };
      downloads.set(cid, created);
      d = created;
    }
    const shared = d;
    adopt(shared);
    shared.waiters++;
    // Each caller may give up on its own; when nobody waits any more the download is finished
    // anyway while few are (`finishAbandoned`), else stopped.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (--shared.waiters === 0) abandon(cid, shared, signal?.reason);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      return await Promise.race([shared.promise, aborted]);
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  async function ensure(cid: string, signal: AbortSignal | undefined, pin: boolean): Promise<Entry> {
    if (!isCid(cid))
      throw new PlexusError('PLX_BAD_CID', `"${cid}" is not a content id (64 lowercase hex sha256)`);
    const cached = index.get(cid);
    if (cached !== undefined) {
      // Someone deleted the file behind the cache's back: forget it and fetch it again. (A stat
      // of a file in use is answered from the inode cache: synchronously, without a thread-pool
      // round trip.)
      let present = statSync(pathOf(cid), { throwIfNoEntry: false })?.size === cached.size;
      if (present && cached.unverified !== undefined) {
        // Found at start-up: hash it once (callers arriving meanwhile share the check).
        if (cached.unverified === true) cached.unverified = fileHashes(pathOf(cid), cid);
        present = await cached.unverified;
        if (present) delete cached.unverified;
        else if (index.get(cid) === cached) {
          log.warn({ cid }, 'a cached blob does not hash to its cid (a crash?): fetching it again');
          rmSync(pathOf(cid), { force: true });
        }
      }
      if (present && index.get(cid) === cached) {
        touch(cid, cached);
        if (pin) cached.pins++;
        return cached;
      }
      if (index.get(cid) === cached) {
        index.delete(cid);
        bytes -= cached.size;
        changed(cid);
      }
    }
    const entry = await fetchShared(cid, signal);
    // `get` holds no pin: the blob stays until a later insertion needs the room.
    if (!pin) entry.pins--;
    return entry;
  }

  return {
    async get(cid, signal) {
      await ensure(cid, signal, false);
      return pathOf(cid);
    },
    async acquire(cid, signal) {
      const entry = await ensure(cid, signal, true);
      let released = false;
      return {
        path: pathOf(cid),
        release() {
          if (released) return;
          released = true;
          entry.pins--;
          if (entry.pins === 0 && bytes > budgetBytes) evict();
        },
      };
    },
    has: (cid) => index.has(cid),
    list: () => [...index.keys()],
    usage: () => ({ bytes, entries: index.size }),
    close() {
      closed = true;
      for (const d of downloads.values()) d.controller.abort(new Error('blob cache closed'));
    },
  };
}
