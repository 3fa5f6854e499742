/**
 * The provider's HTTP client for the coordinator's blob API (`GET|PUT /v1/blobs/:cid`), on
 * node:http with keep-alive connections. It replaces `fetch` on the task path: undici's web
 * streams cost the agent several milliseconds of CPU and much garbage per task (a 0.7 MB input
 * arrives as a dozen chunks, each wrapped in promises and stream records), where a plain
 * IncomingMessage hands the chunks over as they come.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { errorFromBody } from '../../errors/httpError.ts';
import type { ChunkSource } from '../cache/createBlobCache.ts';
import { createFastBlobGet } from './fastBlobGet.ts';

/** What undici's fetch allowed a silent connection (its headers and body timeouts), in ms. */
const IDLE_TIMEOUT_MS = 300_000;
/** An error response is JSON of a few hundred bytes; more than this is not read. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Redirects followed, as fetch does (its limit). */
const MAX_REDIRECTS = 20;
/** With replicas: how long a request keeps retrying on the replica in use after a connection error. */
const FAILOVER_WAIT_MS = 30_000;
/** With replicas: breaks of one read in a row that delivered no new byte before it fails. */
const MAX_BREAKS_WITHOUT_PROGRESS = 5;
/** Errors that mean the coordinator is gone (not an answer): with replicas, worth another try. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ECONNABORTED']);

/**
 * Blob transfers to and from one coordinator.
 *
 * @example
 * const blobs = createBlobHttp('http://127.0.0.1:8080');
 * const body = await blobs.get(cid, signal);
 */
export type BlobHttp = {
  /**
   * The blob's bytes as a stream; a non-2xx answer rejects with the coordinator's PlexusError.
   * With replicas a body broken off midway (the replica died) continues from the replica the
   * session moved to.
   */
  get(cid: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * `get` for the blob cache: over plain `http:` a ChunkSource whose bytes the kernel copies into
   * a reused buffer (fastBlobGet.ts), else (https, an answer other than a plain 200) the stream
   * `get` answers. Errors as `get`'s; with replicas a body broken off midway continues the same way.
   */
  source(cid: string, signal?: AbortSignal): Promise<Readable | ChunkSource>;
  /** Uploads a blob under its content id (the coordinator refuses bytes that do not hash to it). */
  put(cid: string, bytes: Uint8Array): Promise<void>;
  /**
   * Reads of `cids` use `token` (an assignment's lease token) instead of a signature for `ttlMs`;
   * a token the coordinator refuses (its lease ended, the coordinator restarted) is dropped and
   * the read is signed instead.
   */
  grant(cids: readonly string[], token: string, ttlMs: number): void;
  /**
   * The next `get` of `cid` within `ttlMs` answers `bytes` (an input the coordinator sent inside
   * its assignment) without a request; the reader (the blob cache) checks they hash to `cid`.
   */
  preload(cid: string, bytes: Uint8Array, ttlMs: number): void;
  /** Closes the idle keep-alive connections. */
  close(): void;
};

/**
 * Creates the blob client for a coordinator base URL (`http:` or `https:`). Like `fetch`, it
 * follows redirects (301, 302, 307 and 308 keep the method and body; 303 turns into a GET). A
 * request that fails with ECONNRESET on a reused keep-alive connection (the server closed it just
 * as it was reused) is sent once more on a fresh one: both methods are idempotent.
 *
 * @example
 * const blobs = createBlobHttp(base);
 * await blobs.put(cidOf(bytes), bytes);
 */
export function createBlobHttp(
  /** The coordinator's base URL, or a function answering the one in use now (replicas: failover). */
  baseUrl: string | (() => string),
  opts: {
    /**
     * The `x-plexus-auth` value of a request (signed BlobUpload when `size` is given, else
     * BlobRead): the coordinator lets the provider read a task's blobs while it holds the lease and
     * upload under its key. Absent: unsigned requests (public data only).
     */
    auth?: (cid: string, size?: number) => Promise<string>;
  } = {},
): BlobHttp {
  const baseOf = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  /** Lease tokens by cid (the newest grant wins; expired ones are dropped as they are met). */
  const grants = new Map<string, { token: string; until: number }>();
  /** Grants kept at most (each task adds two; a busy agent holds a few dozen). */
  const MAX_GRANTS = 4096;
  /** Inputs sent inside assignments, until their one read (at most MAX_GRANTS kept). */
  const preloaded = new Map<string, { bytes: Uint8Array; until: number }>();
  const fast = createFastBlobGet(IDLE_TIMEOUT_MS);
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };

  /** One request: resolves with the response (whatever its status) once its headers are in. */
  function send(
    method: 'GET' | 'PUT',
    url: URL,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    auth: Record<string, string>,
    retried = false,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        reject(new Error(`cannot fetch a blob from ${url.protocol} URL ${url.href}`));
        return;
      }
      const req = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method,
          agent: agents[url.protocol],
          timeout: IDLE_TIMEOUT_MS,
          ...(signal ? { signal } : {}),
          headers:
            body === undefined
              ? auth
              : { ...auth, 'content-type': 'application/octet-stream', 'content-length': body.byteLength },
        },
        (res) => {
          responded = true;
          resolve(res);
        },
      );
      let responded = false;
      // The socket's idle timeout, while waiting for the answer and while its body arrives (a
      // failure mid-body reaches the reader of the response as an error).
      req.on('timeout', () => req.destroy(new Error(`blob ${method} ${url.pathname} timed out`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (responded) return;
        if (!retried && req.reusedSocket && err.code === 'ECONNRESET' && !signal?.aborted)
          send(method, url, body, signal, auth, true).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  }

  /**
   * `send`, and with replicas (a base URL function) on a connection error (the replica in use
   * died: refused, reset, hung up) the same request to the base in use then, every 500 ms for up
   * to FAILOVER_WAIT_MS: the session moves to the next replica when its socket closes, and a task
   * must not fail because its blob read raced that move.
   */
  async function sendOrFailOver(
    method: 'GET' | 'PUT',
    url: URL,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    auth: Record<string, string>,
    moved: (url: URL) => void,
  ): Promise<IncomingMessage> {
    const until = Date.now() + FAILOVER_WAIT_MS;
    for (;;) {
      try {
        return await send(method, url, body, signal, auth);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (
          typeof baseUrl === 'string' ||
          signal?.aborted ||
          !CONNECTION_ERRORS.has(code) ||
          Date.now() > until
        )
          throw err;
        await new Promise((r) => setTimeout(r, 500));
        const base = baseOf().replace(/\/+$/, '');
        if (!url.href.startsWith(`${base}/`)) {
          url = new URL(`${base}${url.pathname}${url.search}`);
          moved(url);
        }
      }
    }
  }

  const blobUrl = (cid: string) =>
    new URL(`${baseOf().replace(/\/+$/, '')}/v1/blobs/${encodeURIComponent(cid)}`);

  /**
   * A request's x-plexus-auth: a read covered by a lease token goes without a signature; otherwise
   * signed once per request (the signature names the cid and is fresh for minutes).
   */
  async function authOf(method: 'GET' | 'PUT', cid: string, body: Uint8Array | undefined) {
    const grant = method === 'GET' ? grants.get(cid) : undefined;
    if (grant && grant.until <= Date.now()) grants.delete(cid);
    const token = grant && grant.until > Date.now() ? grant.token : undefined;
    const auth: Record<string, string> = token
      ? { 'x-plexus-auth': token }
      : opts.auth
        ? { 'x-plexus-auth': await opts.auth(cid, body?.byteLength) }
        : {};
    return { auth, token };
  }

  /** The request, its redirects followed; a non-2xx final answer throws the coordinator's error. */
  async function request(
    method: 'GET' | 'PUT',
    cid: string,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    let url = blobUrl(cid);
    const { auth, token } = await authOf(method, cid, body);
    for (let hops = 0; ; hops++) {
      const res = await sendOrFailOver(method, url, body, signal, auth, (u) => {
        url = u;
      });
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
        res.resume();
        if (hops >= MAX_REDIRECTS) throw new Error(`blob ${method} of ${cid}: too many redirects`);
        url = new URL(location, url);
        if (status === 303 && method !== 'GET') {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      if (status >= 200 && status < 300) return res;
      if (token && (status === 401 || status === 403) && opts.auth) {
        // The token no longer opens it (lease ended, coordinator restarted): sign this read.
        res.resume();
        if (grants.get(cid)?.token === token) grants.delete(cid);
        return request(method, cid, body, signal);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      }
      throw errorFromBody(status, Buffer.concat(chunks).toString('utf8'));
    }
  }

  /**
   * With replicas, a GET whose body breaks off midway (the replica serving it died: reset, or the
   * connection closed before `content-length` bytes) is asked again, of the replica in use then
   * (request() waits for the session to move, as for a refused connection), and the bytes already
   * delivered are skipped in the new answer: the blob API has no ranges, and a blob's bytes are the
   * same on every replica (its cid is their hash, checked by the reader). At most
   * MAX_BREAKS_WITHOUT_PROGRESS breaks in a row that delivered nothing new; an abort or a refusal
   * (an HTTP error answer) ends it as before.
   */
  async function* resumed(cid: string, signal: AbortSignal | undefined, first: IncomingMessage) {
    let res = first;
    let delivered = 0;
    let stalled = 0;
    for (;;) {
      const before = delivered;
      let skip = delivered;
      let got = 0;
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          got += chunk.length;
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          const part = skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
          delivered += part.length;
          yield part;
        }
        const length = Number(res.headers['content-length'] ?? Number.NaN);
        if (res.complete && (Number.isNaN(length) || got === length)) return;
        throw Object.assign(new Error(`blob ${cid}: the connection closed after ${got} bytes`), {
          code: 'ECONNRESET',
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        stalled = delivered > before ? 0 : stalled + 1;
        if (signal?.aborted || !CONNECTION_ERRORS.has(code) || stalled > MAX_BREAKS_WITHOUT_PROGRESS)
          throw err;
        res.destroy();
        await new Promise((r) => setTimeout(r, 500));
        res = await request('GET', cid, undefined, signal);
      }
    }
  }

  /** An input sent inside its assignment (read once), if one is held for `cid`. */
  function takePreloaded(cid: string): Uint8Array | undefined {
    const held = preloaded.get(cid);
    if (!held) return undefined;
    preloaded.delete(cid);
    return held.until > Date.now() ? held.bytes : undefined;
  }

  async function get(cid: string, signal: AbortSignal | undefined): Promise<Readable> {
    const held = takePreloaded(cid);
    if (held) return Readable.from([held], { objectMode: false });
    const res = await request('GET', cid, undefined, signal);
    // One coordinator: the response itself (no copy per chunk); a break fails the read.
    if (typeof baseUrl === 'string') return res;
    return Readable.from(resumed(cid, signal, res), { objectMode: false });
  }

  /**
   * With replicas, the rest of a ChunkSource body broken off after `delivered` bytes: asked again
   * through `get` (which waits for the session to move), the bytes already delivered skipped.
   */
  async function continueFrom(
    cid: string,
    signal: AbortSignal | undefined,
    delivered: number,
    onChunk: (batch: Buffer) => void,
  ): Promise<void> {
    await new Promise((r) => setTimeout(r, 500));
    let skip = delivered;
    for await (const chunk of await get(cid, signal)) {
      const c = chunk as Buffer;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      onChunk(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
  }

  return {
    get,
    async source(cid, signal) {
      const held = takePreloaded(cid);
      if (held) {
        const batch = Buffer.from(held.buffer, held.byteOffset, held.byteLength);
        return { size: held.byteLength, chunks: async (onChunk) => onChunk(batch) };
      }
      const url = blobUrl(cid);
      if (url.protocol !== 'http:') return get(cid, signal);
      let body: ChunkSource | undefined;
      try {
        body = await fast.request(url, (await authOf('GET', cid, undefined)).auth, signal);
      } catch (err) {
        // A failed connection: node:http tries (with replicas, waiting for the session to move).
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (signal?.aborted || !CONNECTION_ERRORS.has(code)) throw err;
      }
      if (!body) return get(cid, signal);
      const direct = body;
      if (typeof baseUrl === 'string') return direct;
      return {
        size: direct.size,
        discard: () => direct.discard?.(),
        async chunks(onChunk) {
          let delivered = 0;
          try {
            await direct.chunks((batch) => {
              onChunk(batch);
              delivered += batch.length;
            });
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code ?? '';
            if (signal?.aborted || !CONNECTION_ERRORS.has(code)) throw err;
            await continueFrom(cid, signal, delivered, onChunk);
          }
        },
      };
    },
    preload(cid, bytes, ttlMs) {
      if (preloaded.size >= MAX_GRANTS) preloaded.clear();
      preloaded.set(cid, { bytes, until: Date.now() + ttlMs });
    },
    grant(cids, token, ttlMs) {
      if (grants.size >= MAX_GRANTS) {
        const now = Date.now();
        for (const [cid, g] of grants) if (g.until <= now) grants.delete(cid);
        if (grants.size >= MAX_GRANTS) grants.clear();
      }
      for (const cid of cids) grants.set(cid, { token, until: Date.now() + ttlMs });
    },
    async put(cid, bytes) {
      const res = await request('PUT', cid, bytes, undefined);
      // Drained, so the connection goes back to the pool.
      res.resume();
      await new Promise<void>((resolve, reject) => {
        if (res.complete) resolve();
        else res.once('end', resolve).once('error', reject).once('close', resolve);
      });
    },
    close() {
      fast.close();
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
