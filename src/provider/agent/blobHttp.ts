/**
 * The provider's HTTP client for the coordinator's blob API (`GET|PUT /v1/blobs/:cid`), on
 * node:http with keep-alive connections. It replaces `fetch` on the task path: undici's web
 * streams cost the agent several milliseconds of CPU and much garbage per task (a 0.7 MB input
 * arrives as a dozen chunks, each wrapped in promises and stream records), where a plain
 * IncomingMessage hands the chunks over as they come.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { errorFromBody } from '../../client/httpError.ts';

/** What undici's fetch allowed a silent connection (its headers and body timeouts), in ms. */
const IDLE_TIMEOUT_MS = 300_000;
/** An error response is JSON of a few hundred bytes; more than this is not read. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Blob transfers to and from one coordinator.
 *
 * @example
 * const blobs = createBlobHttp('http://127.0.0.1:8080');
 * const body = await blobs.get(cid, signal);
 */
export type BlobHttp = {
  /** The blob's bytes as a stream; a non-2xx answer rejects with the coordinator's PlexusError. */
  get(cid: string, signal?: AbortSignal): Promise<IncomingMessage>;
  /** Uploads a blob under its content id (the coordinator refuses bytes that do not hash to it). */
  put(cid: string, bytes: Uint8Array): Promise<void>;
  /** Closes the idle keep-alive connections. */
  close(): void;
};

/**
 * Creates the blob client for a coordinator base URL (`http:` or `https:`). A request that fails
 * with ECONNRESET on a reused keep-alive connection (the coordinator closed it just as it was
 * reused) is sent once more on a fresh one: both methods are idempotent.
 *
 * @example
 * const blobs = createBlobHttp(base);
 * await blobs.put(cidOf(bytes), bytes);
 */
export function createBlobHttp(baseUrl: string): BlobHttp {
  const base = new URL(baseUrl.replace(/\/+$/, ''));
  const lib = base.protocol === 'https:' ? https : http;
  const agent = new lib.Agent({ keepAlive: true });
  const prefix = base.pathname.replace(/\/+$/, '');

  function request(
    method: 'GET' | 'PUT',
    cid: string,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    retried = false,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = lib.request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path: `${prefix}/v1/blobs/${encodeURIComponent(cid)}`,
          method,
          agent,
          timeout: IDLE_TIMEOUT_MS,
          ...(signal ? { signal } : {}),
          headers:
            body === undefined
              ? {}
              : { 'content-type': 'application/octet-stream', 'content-length': body.byteLength },
        },
        (res) => {
          responded = true;
          resolve(res);
        },
      );
      let responded = false;
      // The socket's idle timeout, while waiting for the answer and while its body arrives (a
      // failure mid-body reaches the reader of the response as an error).
      req.on('timeout', () => req.destroy(new Error(`blob ${method} of ${cid} timed out`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (responded) return;
        if (!retried && req.reusedSocket && err.code === 'ECONNRESET' && !signal?.aborted)
          request(method, cid, body, signal, true).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  }

  /** Throws the coordinator's error for a non-2xx answer (after reading its body). */
  async function check(res: IncomingMessage): Promise<IncomingMessage> {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    }
    throw errorFromBody(status, Buffer.concat(chunks).toString('utf8'));
  }

  return {
    async get(cid, signal) {
      return check(await request('GET', cid, undefined, signal));
    },
    async put(cid, bytes) {
      const res = await check(await request('PUT', cid, bytes, undefined));
      // Drained, so the connection goes back to the pool.
      res.resume();
      await new Promise<void>((resolve, reject) => {
        if (res.complete) resolve();
        else res.once('end', resolve).once('error', reject).once('close', resolve);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
