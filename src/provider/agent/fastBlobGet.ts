/**
 * A lean HTTP/1.1 GET for blob downloads from a coordinator over plain `http:`. The kernel copies
 * the body straight into a reused batch buffer (net.Socket's `onread`), and the reader (the blob
 * cache) hashes and writes each full batch before the next read: no allocation per read, no
 * stream records, no garbage per chunk. node:http cost the agent 10–15 ms of CPU to receive a
 * 6 MB task input (64 KiB buffers allocated per read, an IncomingMessage chunk each, the garbage
 * collector after them); this path costs about what the kernel's copy does (docs/benchmarks.md,
 * "cost per byte"). Only a `200` with a `content-length` and no transfer coding is read here:
 * anything else (an error answer, a redirect, a refused lease token) is answered `undefined`, and
 * blobHttp.ts asks again through node:http, which handles every case.
 */
import net from 'node:net';
import type { ChunkSource } from '../cache/createBlobCache.ts';

/** A response head longer than this is refused (the coordinator's are a few hundred bytes). */
const HEAD_MAX_BYTES = 16 * 1024;
/**
 * Bytes read before they are handed to the reader (hashed and written by the blob cache): small
 * enough to stay in the core's cache between the kernel's copy, the hash and the write (4 MiB
 * batches were read back from memory twice: 1.62–2.10 against 1.40–1.52 ms of agent CPU per MB
 * downloaded, docs/benchmarks.md "cost per byte").
 */
export const BATCH_BYTES = 512 * 1024;
/** Free batch buffers kept for reuse (a download holds one). */
const BATCHES_KEPT = 4;

type Conn = {
  key: string;
  socket: net.Socket;
  /** Where the next read goes (the head buffer, or the part of a batch still free). */
  target: Buffer;
  head: Buffer;
  /** What a read means now; none while idle (bytes then are a protocol error). */
  onRead?: ((n: number) => void) | undefined;
  /** A failure of the socket, for the request in flight. */
  onFail?: ((err: Error) => void) | undefined;
  /** Responses it has carried (a reused connection may have been closed by the server meanwhile). */
  used: number;
};

function failure(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Creates the GET client: kept-alive connections per host, reused batch buffers.
 *
 * @example
 * const fast = createFastBlobGet(300_000);
 * const source = await fast.get(new URL(`${base}/v1/blobs/${cid}`), { 'x-plexus-auth': token });
 */
export function createFastBlobGet(idleTimeoutMs: number) {
  const idle = new Map<string, Conn[]>();
  const batches: Buffer[] = [];
  let closed = false;

  function forget(conn: Conn): void {
    const list = idle.get(conn.key);
    const i = list?.indexOf(conn) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  function connect(url: URL, key: string): Conn {
    const head = Buffer.allocUnsafe(HEAD_MAX_BYTES);
    const conn = { key, head, target: head, used: 0 } as Conn;
    conn.socket = net.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        buffer: () => conn.target,
        callback: (n: number) => {
          if (conn.onRead) conn.onRead(n);
          // Bytes nobody asked for: the connection is out of step; it is not used again.
          else conn.socket.destroy();
          return !conn.socket.destroyed;
        },
      },
    });
    conn.socket.setNoDelay(true);
    conn.socket.setTimeout(idleTimeoutMs, () =>
      conn.socket.destroy(failure('blob download timed out', 'ETIMEDOUT')),
    );
    conn.socket.on('error', (err) => conn.onFail?.(err));
    conn.socket.on('close', () => {
      forget(conn);
      conn.onFail?.(failure('the coordinator closed the connection', 'ECONNRESET'));
    });
    return conn;
  }

  /**
   * Back to the idle pool (or closed). Called only from a read callback or before the socket
   * reads again: the buffer a socket reads into next is the one its last read callback left in
   * `target` (net.Socket asks `onread.buffer` after each callback), so that must be the head
   * buffer here, never a batch that is handed back for another download to reuse.
   */
  function release(conn: Conn, keepAlive: boolean): void {
    conn.onRead = undefined;
    conn.onFail = undefined;
    conn.target = conn.head;
    if (!keepAlive || closed || conn.socket.destroyed) {
      conn.socket.destroy();
      return;
    }
    // Reading while idle: the server closing it is seen at once, stray bytes close it.
    conn.socket.resume();
    const list = idle.get(conn.key) ?? [];
    list.push(conn);
    idle.set(conn.key, list);
  }

  const takeBatch = () => batches.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
  const giveBatch = (b: Buffer) => {
    if (batches.length < BATCHES_KEPT) batches.push(b);
  };

  /**
   * Sends the GET and waits for the response head: a ChunkSource for a `200` with a
   * content-length, `undefined` for any other answer (the connection is closed; ask through
   * node:http). Rejects on a connection failure (after one retry on a fresh connection when a
   * reused one failed before answering) or an abort.
   */
  function request(
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    retried = false,
  ): Promise<ChunkSource | undefined> {
    signal?.throwIfAborted();
    const key = url.host;
    const conn = idle.get(key)?.pop() ?? connect(url, key);
    const reused = conn.used > 0;
    conn.used++;
    let lines = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`bad header ${name}`);
      lines += `${name}: ${value}\r\n`;
    }
    lines += 'Connection: keep-alive\r\n\r\n';
    return new Promise<ChunkSource | undefined>((resolve, reject) => {
      let headLen = 0;
      let answered = false;
      const onAbort = () => conn.socket.destroy(signal?.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const unlisten = () => signal?.removeEventListener('abort', onAbort);
      conn.onFail = (err) => {
        conn.onFail = undefined;
        conn.onRead = undefined;
        unlisten();
        if (signal?.aborted) reject(signal.reason);
        // The server closed a kept-alive connection just as it was reused: once more, afresh.
        else if (reused && !retried && headLen === 0 && !answered)
          request(url, headers, signal, true).then(resolve, reject);
        else reject(err);
      };
      conn.onRead = (n) => {
        const from = Math.max(0, headLen - 3);
        headLen += n;
        const end = conn.head.subarray(0, headLen).indexOf('\r\n\r\n', from, 'latin1');
        if (end < 0) {
          if (headLen >= HEAD_MAX_BYTES) conn.socket.destroy(failure('response head too large', 'EPROTO'));
          else conn.target = conn.head.subarray(headLen);
          return;
        }
        answered = true;
        const text = conn.head.toString('latin1', 0, end);
        const [statusLine = '', ...fields] = text.split('\r\n');
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
        let length: number | undefined;
        let coded = false;
        let keepAlive = statusLine.startsWith('HTTP/1.1');
        for (const f of fields) {
          const colon = f.indexOf(':');
          const name = f.slice(0, colon).trim().toLowerCase();
          const value = f.slice(colon + 1).trim();
          if (name === 'content-length')
            length = /^\d{1,15}$/.test(value) && length === undefined ? Number(value) : Number.NaN;
          else if (name === 'transfer-encoding') coded = true;
          else if (name === 'connection') keepAlive = !/close/i.test(value);
        }
        const early = headLen - end - 4;
        if (status !== '200' || length === undefined || Number.isNaN(length) || coded || early > length) {
          // Not the plain answer this path reads: node:http asks again.
          conn.onFail = undefined;
          conn.onRead = undefined;
          unlisten();
          conn.socket.destroy();
          resolve(undefined);
          return;
        }
        const size = length;
        conn.onRead = undefined;
        conn.onFail = undefined;
        unlisten();
        if (early === size) {
          // The whole body came with the head (a small blob): copied out of the head buffer, which
          // the connection's next answer reuses, and the connection is free at once. The socket
          // keeps reading into the head buffer (the one its next read uses is the one answered to
          // this callback: it must never be a batch handed back, nor an empty buffer).
          const body = Buffer.from(conn.head.subarray(end + 4, headLen));
          release(conn, keepAlive);
          resolve({
            size,
            discard() {},
            async chunks(onChunk) {
              signal?.throwIfAborted();
              if (size > 0) onChunk(body);
            },
          });
          return;
        }
        // The batch is taken now, so the read after the head already lands in it (the buffer
        // set here is the one the socket's next read fills); the socket pauses until a reader
        // asks for the bytes.
        const batch = takeBatch();
        conn.head.copy(batch, 0, end + 4, headLen);
        let fill = early;
        let remaining = size - early;
        conn.target = batch.subarray(fill, fill + Math.min(BATCH_BYTES - fill, remaining));
        conn.socket.pause();
        let started = false;
        resolve({
          size,
          discard() {
            // Refused before a byte was read (too large): the connection is out of step, closed.
            if (started) return;
            started = true;
            conn.socket.destroy();
          },
          chunks(onChunk) {
            if (started) return Promise.reject(new Error('a blob body is read once'));
            started = true;
            return new Promise<void>((done, fail) => {
              let finished = false;
              const stop = (err: unknown) => {
                if (finished) return;
                finished = true;
                conn.onRead = undefined;
                conn.onFail = undefined;
                unlistenBody();
                conn.socket.destroy();
                fail(signal?.aborted ? signal.reason : err);
              };
              const onBodyAbort = () => stop(signal?.reason);
              signal?.addEventListener('abort', onBodyAbort, { once: true });
              const unlistenBody = () => signal?.removeEventListener('abort', onBodyAbort);
              const deliver = (): boolean => {
                try {
                  onChunk(batch.subarray(0, fill));
                } catch (err) {
                  stop(err);
                  return false;
                }
                fill = 0;
                return true;
              };
              const complete = () => {
                finished = true;
                unlistenBody();
                giveBatch(batch);
                release(conn, keepAlive);
                done();
              };
              if (signal?.aborted) {
                stop(signal.reason);
                return;
              }
              conn.onFail = stop;
              conn.onRead = (n) => {
                fill += n;
                remaining -= n;
                if ((fill === BATCH_BYTES || remaining === 0) && !deliver()) return;
                if (remaining === 0) {
                  complete();
                  return;
                }
                conn.target = batch.subarray(fill, fill + Math.min(BATCH_BYTES - fill, remaining));
              };
              conn.socket.resume();
            });
          },
        });
      };
      conn.socket.write(lines);
    });
  }

  return {
    request,
    /** Closes every idle connection; later requests open new ones. */
    close(): void {
      closed = true;
      for (const list of idle.values()) for (const c of list) c.socket.destroy();
      idle.clear();
    },
  };
}
