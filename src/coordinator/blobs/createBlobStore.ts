import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fstatSync,
  mkdirSync,
  openSync,
  type ReadStream,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writevSync,
} from 'node:fs';
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import { type Cid, isCid } from '../../protocol/ids.ts';
import { queryTemplate, type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import type { SharedBlobs } from './sharedBlobs.ts';

/** Blob sizes remembered in memory (a row each: cid and size). */
const SIZE_CACHE_ENTRIES = 100_000;
/**
 * A blob looked up within this long is not collected, whatever its age: job intake looks its model
 * and inputs up before it inspects them (seconds to a minute) and stores the job that references
 * them, and an upload's grace period may run out in between.
 */
export const BLOB_USE_HOLD_MS = 10 * 60_000;
/** Largest read of a blob file while it is sent. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Uploaded bytes gathered before they are written to the temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** Blobs up to this size are read and written with synchronous calls. */
const SYNC_IO_BYTES = 1024 * 1024;
/**
 * Blobs stored with `putBytes` up to this size are kept in their row, not in a file (a tiny
 * output sent inside a result: a row costs far less than a file's create, write and rename).
 */
export const INLINE_BLOB_BYTES = 64 * 1024;

/** What is left of `chunks` after the first `written` bytes (after a short write). */
function after(chunks: Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const c of chunks) {
    if (skip >= c.length) skip -= c.length;
    else {
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
  }
  return rest;
}

/** Writes `chunks` (`total` bytes) at the file's position, however many calls that takes. */
async function writeAll(file: FileHandle, chunks: Buffer[], total: number): Promise<void> {
  let left = chunks;
  let remaining = total;
  while (remaining > 0) {
    const { bytesWritten } = await file.writev(left);
    remaining -= bytesWritten;
    left = after(left, bytesWritten);
  }
}

/** Creates `path` holding `chunks` (`total` bytes), synchronously. */
function writeAllSync(path: string, chunks: Buffer[], total: number): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    let left = chunks;
    let remaining = total;
    while (remaining > 0) {
      const written = writevSync(fd, left);
      remaining -= written;
      left = after(left, written);
    }
  } finally {
    closeSync(fd);
  }
}

/** A read-only descriptor of `path`, or undefined when there is no such file. */
function openIfThere(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export type BlobStore = {
  /**
   * Streams `body` to disk while hashing it, holding at most about a MiB of it in memory at a
   * time (a body that small is written once it is complete). Refuses more than
   * `maxBytes` (PLX_PAYLOAD_TOO_LARGE) and, when `expectedCid` is given, bytes that hash to
   * something else (PLX_DIGEST_MISMATCH). Idempotent: storing the same bytes twice is a no-op.
   */
  put(body: Readable, opts: { maxBytes: number; expectedCid?: Cid }): Promise<{ cid: Cid; size: number }>;
  /**
   * `put` for bytes already in memory (a tiny output sent inside a result): hashed once, kept in
   * the blob's row up to INLINE_BLOB_BYTES (no file; read back like any blob, and written out as a
   * file only for a caller that asks for a path), and the same PLX_DIGEST_MISMATCH when they do
   * not hash to `expectedCid`.
   */
  putBytes(bytes: Uint8Array, expectedCid: Cid): Promise<{ cid: Cid; size: number }>;
  /**
   * putBytes in two steps, so the row can go in a caller's transaction: `checkBytes` hashes the
   * bytes (the same PLX_DIGEST_MISMATCH), `putChecked` stores them. With `via` (a transaction), a
   * blob kept in its row is stored with that transaction, or not at all if it rolls back (a
   * result's output commits with the result: no commit of its own).
   */
  checkBytes(bytes: Uint8Array, expectedCid: Cid): CheckedBytes;
  putChecked(checked: CheckedBytes, via?: Kysely<Database>): Promise<void>;
  has(cid: Cid): Promise<boolean>;
  size(cid: Cid): Promise<number | undefined>;
  /** A read stream of the blob; PLX_NOT_FOUND when absent. */
  openRead(cid: Cid): Promise<{ stream: ReadStream; size: number }>;
  /**
   * The whole blob in memory (for small blobs the coordinator inspects: models, tensors). `via`:
   * the transaction a caller holds (the store's lookups go through it, not the pool, whose one
   * connection that transaction holds on PostgreSQL).
   */
  read(cid: Cid, via?: Kysely<Database>): Promise<Uint8Array>;
  /**
   * Reads a blob whose size the caller looked up into `into` (exactly that many bytes), so a
   * caller that sends it can reuse its buffers. Throws when the file on disk has another size.
   */
  readInto(cid: Cid, into: Uint8Array): Promise<void>;
  /**
   * Reads the first bytes of blob `cid` (up to `into.length`, at most its size) into `into` and
   * returns how many it read and the blob's size (intake reads an input's header only).
   */
  readHead(cid: Cid, into: Uint8Array): Promise<{ read: number; size: number }>;
  pathOf(cid: Cid): string;
  /**
   * The path of blob `cid`'s file (`size` bytes), copied from the shared store first when this
   * replica has not got it yet. Use it, not pathOf, for a blob another replica may have stored.
   */
  localPath(cid: Cid, size: number): Promise<string>;
  /**
   * Removes blob `cid` (row and file) if `stillUnused` (run inside the same synchronous section,
   * after the row is gone) agrees; never while an upload of the same cid is being put in place,
   * nor within BLOB_USE_HOLD_MS of a lookup (`size`, `has`, `read`, `openRead`).
   * Synchronous, so no upload interleaves. Returns whether it was removed.
   */
  removeIfUnused(cid: Cid, stillUnused: () => boolean): boolean;
};

/** Bytes that hash to `cid` (checked by the blob store's `checkBytes`). */
export type CheckedBytes = { readonly cid: Cid; readonly bytes: Uint8Array; readonly checked: unique symbol };

/**
 * The coordinator's content-addressed blob store: files under `dir/ab/abcd…` plus a row per blob.
 * A blob is visible only after its file is complete and renamed into place, so a crash mid-upload
 * leaves only a temp file, which is cleaned at start.
 *
 * @example const blobs = await createBlobStore({ dir: '.plexus/blobs', db });
 */
export async function createBlobStore(opts: {
  dir: string;
  db: Kysely<Database>;
  raw?: RawConnection;
  now?: () => number;
  /**
   * Replicas on one PostgreSQL store: every upload's bytes also go to the database, and a blob
   * whose file this replica lacks is fetched from it on first read (sharedBlobs.ts).
   */
  shared?: SharedBlobs;
}): Promise<BlobStore> {
  const now = opts.now ?? Date.now;
  const stmt = templateRunner(opts.raw);
  const sizeOf = queryTemplate((p: (n: 'cid') => never) =>
    opts.db.selectFrom('blobs').select('size').where('cid', '=', p('cid')),
  );
  const insert = queryTemplate((p: (n: 'cid' | 'size' | 'at') => never) =>
    opts.db
      .insertInto('blobs')
      .values({ cid: p('cid'), size: p('size'), created_at: p('at') })
      // Storing a blob again restarts its grace period: the garbage collector must not take a blob
      // a client just uploaded (again) for a job it is about to submit.
      .onConflict((oc) => oc.column('cid').doUpdateSet({ created_at: p('at') })),
  );
  // A tiny blob's bytes in its row; stored again, only the grace period restarts (a blob stored
  // as a file before keeps its file).
  const insertInline = queryTemplate((p: (n: 'cid' | 'size' | 'at' | 'data') => never) =>
    opts.db
      .insertInto('blobs')
      .values({ cid: p('cid'), size: p('size'), created_at: p('at'), data: p('data') })
      .onConflict((oc) => oc.column('cid').doUpdateSet({ created_at: p('at') })),
  );
  const dataOf = queryTemplate((p: (n: 'cid') => never) =>
    opts.db.selectFrom('blobs').select('data').where('cid', '=', p('cid')),
  );
  const tmpDir = join(opts.dir, 'tmp');
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });

  const pathOf = (cid: Cid) => join(opts.dir, cid.slice(0, 2), cid);
  /** Shard folders known to exist (at most 256: the first two hex digits of a cid). */
  const shards = new Set<string>();
  const shardFor = (cid: string) => {
    const shard = cid.slice(0, 2);
    if (!shards.has(shard)) {
      mkdirSync(join(opts.dir, shard), { recursive: true });
      shards.add(shard);
    }
  };
  /** The bytes of blob `cid` (`n` of them) when its row holds them, else undefined (a file). */
  async function inlineBytes(
    cid: Cid,
    n: number,
    via: Kysely<Database> = opts.db,
  ): Promise<Buffer | undefined> {
    const row = await stmt.first(via, dataOf, { cid });
    if (!row?.data) return undefined;
    if (row.data.byteLength !== n) throw new Error(`blob ${cid} in the store has the wrong size`);
    return Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength);
  }
  /** Copies from the shared store in progress, one per blob however many readers wait for it. */
  const fetching = new Map<string, Promise<void>>();
  /** Makes sure blob `cid` (`n` bytes) has its file here: with replicas, another may hold it. */
  async function local(cid: Cid, n: number, via: Kysely<Database> = opts.db): Promise<void> {
    const shared = opts.shared;
    if (n > INLINE_BLOB_BYTES && !shared) return;
    if (statSync(pathOf(cid), { throwIfNoEntry: false })) return;
    // A tiny blob kept in its row: written out as a file for a caller that needs a path.
    const inline = n <= INLINE_BLOB_BYTES ? await inlineBytes(cid, n, via) : undefined;
    if (inline) {
      const tmp = join(tmpDir, randomBytes(12).toString('hex'));
      shardFor(cid);
      try {
        writeAllSync(tmp, [inline], n);
        renameSync(tmp, pathOf(cid));
      } finally {
        rmSync(tmp, { force: true });
      }
      return;
    }
    if (!shared) return;
    // A copy through the caller's transaction never waits on one through the pool (which may be
    // waiting for that very transaction's connection).
    let copy = via === opts.db ? fetching.get(cid) : undefined;
    if (!copy && via !== opts.db) {
      shardFor(cid);
      return shared.fetch(cid, n, pathOf(cid), tmpDir, via);
    }
    if (!copy) {
      shardFor(cid);
      copy = shared.fetch(cid, n, pathOf(cid), tmpDir, via).finally(() => fetching.delete(cid));
      fetching.set(cid, copy);
    }
    await copy;
  }
  /**
   * Sizes of blobs known to exist. Blobs are immutable and only deleted by the garbage collector
   * (which forgets them here), so a size once read stays true; a task's input and output are each looked up several times (download, result
   * check, decode). Bounded: the oldest entries go first.
   */
  const sizes = new Map<string, number>();
  /** Cids between their file's rename into place and their row's insert (never collected). */
  const placing = new Map<string, number>();
  /** When each blob was last looked up (oldest first; bounded like `sizes`). */
  const used = new Map<string, number>();
  const touch = (cid: string) => {
    used.delete(cid);
    used.set(cid, now());
    if (used.size > SIZE_CACHE_ENTRIES) used.delete(used.keys().next().value!);
  };
  const inUse = (cid: string) => {
    // Forget lookups older than the hold (the oldest come first).
    const limit = now() - BLOB_USE_HOLD_MS;
    for (const [c, at] of used) {
      if (at >= limit) break;
      used.delete(c);
    }
    return used.has(cid);
  };
  const remember = (cid: string, n: number) => {
    sizes.set(cid, n);
    if (sizes.size > SIZE_CACHE_ENTRIES) sizes.delete(sizes.keys().next().value!);
  };

  function checkCid(cid: string): void {
    if (!isCid(cid)) throw new PlexusError('PLX_BAD_CID', `not a content id: ${cid.slice(0, 80)}`);
  }

  async function size(cid: Cid, via: Kysely<Database> = opts.db): Promise<number | undefined> {
    checkCid(cid);
    touch(cid);
    const known = sizes.get(cid);
    if (known !== undefined) return known;
    const row = await stmt.first(via, sizeOf, { cid });
    if (row) remember(cid, row.size);
    return row?.size;
  }

  /**
   * Reads blob `cid` (known to exist, of `into.length` bytes) whole into `into`. Small blobs are
   * read synchronously: four system calls on this thread cost less than handing each to the
   * thread pool and back (the store's SQLite writes are synchronous too).
   */
  async function readWhole(cid: Cid, into: Uint8Array, via?: Kysely<Database>): Promise<void> {
    const n = into.length;
    if (n <= SYNC_IO_BYTES) {
      // The file first (most blobs); a tiny blob kept in its row has none here.
      let fd = openIfThere(pathOf(cid));
      if (fd === undefined) {
        const inline = n <= INLINE_BLOB_BYTES ? await inlineBytes(cid, n, via) : undefined;
        if (inline) {
          into.set(inline);
          return;
        }
        await local(cid, n, via);
        fd = openSync(pathOf(cid), 'r');
      }
      try {
        if (fstatSync(fd).size !== n) throw new Error(`blob ${cid} on disk has the wrong size`);
        let at = 0;
        while (at < n) {
          const got = readSync(fd, into, at, n - at, at);
          if (got === 0) throw new Error(`blob ${cid} on disk has the wrong size`);
          at += got;
        }
      } finally {
        closeSync(fd);
      }
      return;
    }
    await local(cid, n, via);
    const file = await open(pathOf(cid), 'r');
    try {
      // The row says the blob exists; a missing or short file means the disk was tampered with.
      if ((await file.stat()).size !== n) throw new Error(`blob ${cid} on disk has the wrong size`);
      let at = 0;
      while (at < n) {
        const { bytesRead } = await file.read(into, at, n - at, at);
        if (bytesRead === 0) throw new Error(`blob ${cid} on disk has the wrong size`);
        at += bytesRead;
      }
    } finally {
      await file.close();
    }
  }

  /**
   * Puts the file at `tmp` (the blob's bytes, complete) in place as blob `cid` and stores its row
   * (with `data`, the bytes themselves; neither: only the row's grace period restarts): with
   * replicas the bytes reach the shared store before any replica can see the row.
   */
  async function place(
    tmp: string | undefined,
    cid: Cid,
    bytes: number,
    data?: Uint8Array,
    via: Kysely<Database> = opts.db,
  ): Promise<void> {
    placing.set(cid, (placing.get(cid) ?? 0) + 1);
    try {
      if (tmp !== undefined) {
        shardFor(cid);
        renameSync(tmp, pathOf(cid));
        if (opts.shared) await opts.shared.store(cid, pathOf(cid), bytes);
      }
      // No file to place: the bytes go in the row (`data`), or the blob is stored already (and so
      // is in the shared store already).
      if (data) await stmt.run(via, insertInline, { cid, size: bytes, at: now(), data });
      else await stmt.run(via, insert, { cid, size: bytes, at: now() });
    } finally {
      const n = placing.get(cid)! - 1;
      if (n === 0) placing.delete(cid);
      else placing.set(cid, n);
    }
    // A row in a caller's transaction may yet roll back: its size is looked up once it is needed.
    if (via === opts.db) remember(cid, bytes);
  }

  function checkBytes(bytes: Uint8Array, expectedCid: Cid): CheckedBytes {
    checkCid(expectedCid);
    const cid = createHash('sha256').update(bytes).digest('hex');
    if (cid !== expectedCid) {
      throw new PlexusError('PLX_DIGEST_MISMATCH', `bytes hash to ${cid}, not ${expectedCid}`, {
        details: { expected: expectedCid, actual: cid },
      });
    }
    return { cid, bytes } as CheckedBytes;
  }

  async function putChecked({ cid, bytes }: CheckedBytes, via: Kysely<Database> = opts.db): Promise<void> {
    if (bytes.byteLength <= INLINE_BLOB_BYTES) {
      // In its row: one statement, no file (every replica reads the row).
      await place(undefined, cid, bytes.byteLength, bytes, via);
      return;
    }
    if (sizes.get(cid) === bytes.byteLength) {
      // Stored already (the same output from another execution; the collector forgets a size
      // as it removes the file): only the row's grace period restarts.
      await place(undefined, cid, bytes.byteLength, undefined, via);
      return;
    }
    const tmp = join(tmpDir, randomBytes(12).toString('hex'));
    try {
      writeAllSync(tmp, [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)], bytes.byteLength);
      await place(tmp, cid, bytes.byteLength, undefined, via);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  return {
    pathOf,
    async putBytes(bytes, expectedCid) {
      const checked = checkBytes(bytes, expectedCid);
      await putChecked(checked);
      return { cid: checked.cid, size: bytes.byteLength };
    },
    checkBytes,
    putChecked,
    async localPath(cid, n) {
      await local(cid, n);
      return pathOf(cid);
    },
    size,
    removeIfUnused(cid, stillUnused) {
      if (placing.has(cid) || inUse(cid) || !stillUnused()) return false;
      sizes.delete(cid);
      // The row went first (in stillUnused's transaction): a crash here leaves only a file with
      // no row, which nothing reads and the next upload of the same bytes overwrites.
      rmSync(pathOf(cid), { force: true });
      return true;
    },
    async has(cid) {
      return (await size(cid)) !== undefined;
    },
    async put(body, { maxBytes, expectedCid }) {
      if (expectedCid !== undefined) checkCid(expectedCid);
      const tmp = join(tmpDir, randomBytes(12).toString('hex'));
      const hash = createHash('sha256');
      let bytes = 0;
      let file: FileHandle | undefined;
      let placed = false;
      // Chunks are written in batches of up to WRITE_BATCH_BYTES, each a single writev: a task's
      // output (a few hundred KiB) costs one open, one write and one close, where a write stream
      // through a pipeline cost a write per 64 KiB chunk (and an AbortController per upload). A
      // body that never outgrows one batch is written synchronously once it is complete.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        file ??= await open(tmp, 'w', 0o644);
        await writeAll(file, pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      };
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', `blob exceeds ${maxBytes} bytes`, {
              details: { maxBytes },
            });
          }
          hash.update(chunk);
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
        }
        if (file) {
          await flush();
          await file.close();
          file = undefined;
        } else {
          writeAllSync(tmp, pending, pendingBytes);
        }
        const cid = hash.digest('hex');
        if (expectedCid !== undefined && cid !== expectedCid) {
          throw new PlexusError('PLX_DIGEST_MISMATCH', `bytes hash to ${cid}, not ${expectedCid}`, {
            details: { expected: expectedCid, actual: cid },
          });
        }
        await place(tmp, cid, bytes);
        placed = true;
        return { cid, size: bytes };
      } finally {
        await file?.close();
        // A refusal or a failed rename leaves the temp file (a failure after the rename, nothing).
        if (!placed) rmSync(tmp, { force: true });
      }
    },
    async openRead(cid) {
      const n = await size(cid);
      if (n === undefined) throw new PlexusError('PLX_NOT_FOUND', `no blob ${cid}`);
      await local(cid, n);
      // Large reads (up to 1 MiB): a task's input goes out in a few system calls, not one per 64 KiB.
      // `end` stops at the stored size, so no extra read is spent finding the end of the file.
      const stream = createReadStream(pathOf(cid), {
        highWaterMark: Math.min(Math.max(n, 64 * 1024), READ_CHUNK_BYTES),
        ...(n > 0 ? { end: n - 1 } : {}),
      });
      return { stream, size: n };
    },
    async read(cid, via) {
      const n = await size(cid, via);
      if (n === undefined) throw new PlexusError('PLX_UNKNOWN_BLOB', `no blob ${cid}`, { details: { cid } });
      // Not pooled: its own memory (offset 0, so tensor views over it stay aligned).
      const buf = Buffer.allocUnsafeSlow(n);
      await readWhole(cid, buf, via);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    },
    async readInto(cid, into) {
      await readWhole(cid, into);
    },
    async readHead(cid, into) {
      const n = await size(cid);
      if (n === undefined) throw new PlexusError('PLX_UNKNOWN_BLOB', `no blob ${cid}`, { details: { cid } });
      if (n <= into.length) {
        await readWhole(cid, into.subarray(0, n));
        return { read: n, size: n };
      }
      await local(cid, n);
      const fd = openSync(pathOf(cid), 'r');
      try {
        let at = 0;
        while (at < into.length) {
          const got = readSync(fd, into, at, into.length - at, at);
          if (got === 0) throw new Error(`blob ${cid} on disk has the wrong size`);
          at += got;
        }
      } finally {
        closeSync(fd);
      }
      return { read: into.length, size: n };
    },
  };
}
