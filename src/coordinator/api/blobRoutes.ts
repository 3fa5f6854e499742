import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { BLOB_AUTH_HEADER } from '../../protocol/eip712.ts';
import { errorResponses, uploadedBlobSchema } from '../../protocol/http/common.ts';
import { cidSchema } from '../../protocol/schemas.ts';
import type { BlobAccess } from '../blobs/blobAccess.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';

/**
 * Blobs up to this size (a task's input of several images, an output) are read whole into a
 * reused buffer and sent in one write; larger ones (models) are streamed from their file.
 */
export const SEND_WHOLE_MAX_BYTES = 16 * 1024 * 1024;
/** Bytes of free send buffers kept for reuse. */
const SEND_BUFFERS_KEPT_BYTES = 32 * 1024 * 1024;
/**
 * Bytes of send buffers in use at once, at most: beyond it a download is streamed (bounded by the
 * socket's backpressure), so many readers of large blobs cannot make the coordinator hold them all.
 */
const SEND_BUFFERS_IN_USE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Reused buffers for sending blobs whole. A fresh multi-MiB buffer per download costs more than
 * the bytes it carries: the kernel maps and zeroes its pages on first touch, and the garbage
 * collector runs for the external memory (a 6 MB input sent through a 1 MiB-chunk file stream
 * cost 7.7–8.4 ms of CPU, from a reused buffer 3.2–3.5 ms; docs/benchmarks.md, "cost per byte").
 */
export function createSendBuffers(kept = SEND_BUFFERS_KEPT_BYTES, inUseMax = SEND_BUFFERS_IN_USE_MAX_BYTES) {
  /** Free buffers, smallest first. */
  const free: Buffer[] = [];
  let freeBytes = 0;
  let inUse = 0;
  return {
    /** A buffer of at least `size` bytes, or undefined when too many bytes are out already. */
    take(size: number): Buffer | undefined {
      const i = free.findIndex((b) => b.length >= size);
      if (i >= 0) {
        const [buf] = free.splice(i, 1);
        freeBytes -= buf!.length;
        inUse += buf!.length;
        return buf;
      }
      // Powers of two from 1 MiB: a buffer fits the next blob of about the same size.
      const capacity = Math.max(1024 * 1024, 2 ** Math.ceil(Math.log2(Math.max(size, 1))));
      if (inUse + capacity > inUseMax) return undefined;
      inUse += capacity;
      return Buffer.allocUnsafeSlow(capacity);
    },
    /** Back for reuse (dropped when `kept` bytes are free already). */
    give(buf: Buffer): void {
      inUse -= buf.length;
      if (freeBytes + buf.length > kept) return;
      freeBytes += buf.length;
      const i = free.findIndex((b) => b.length >= buf.length);
      free.splice(i < 0 ? free.length : i, 0, buf);
    },
    /** Sent or dropped without reuse: no longer counted as in use (the collector frees it). */
    drop(buf: Buffer): void {
      inUse -= buf.length;
    },
    stats: () => ({ freeBytes, inUse, free: free.length }),
  };
}

/**
 * Content-addressed blobs: `PUT /v1/blobs/:cid` (the uploader signs the cid and size), `POST
 * /v1/blobs` (the same, with the cid in `x-plexus-cid`), `GET|HEAD /v1/blobs/:cid` (public data, or
 * a signed read by an account with a right to it: docs/security.md). Uploads are checked (signature,
 * uploader, quota) before a byte is read, streamed to disk and capped at `maxBlobBytes` and at the
 * signed size; downloads are sent in one write from a reused buffer up to SEND_WHOLE_MAX_BYTES and
 * streamed beyond.
 *
 * @example await app.register(blobRoutes(blobs, 512 << 20, access));
 */
export function blobRoutes(blobs: BlobStore, maxBlobBytes: number, access: BlobAccess) {
  const sendBuffers = createSendBuffers();
  return async (app: FastifyInstance) => {
    // Octet streams are handed to the route unread, so nothing is buffered whole.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    const r = app.withTypeProvider<ZodTypeProvider>();

    function declaredTooLarge(len: string | undefined): void {
      if (len !== undefined && Number(len) > maxBlobBytes) {
        throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', `blob exceeds ${maxBlobBytes} bytes`, {
          details: { maxBlobBytes },
        });
      }
    }

    function body(raw: unknown): Readable {
      if (!raw || typeof (raw as Readable).pipe !== 'function') {
        throw new PlexusError('PLX_UNSUPPORTED_MEDIA_TYPE', 'send the blob as application/octet-stream');
      }
      return raw as Readable;
    }

    /** The size the uploader signed: the declared length (both must agree when both are given). */
    function signedSize(headers: Record<string, string | string[] | undefined>): number {
      const len = headers['content-length'];
      if (typeof len !== 'string' || !/^\d{1,15}$/.test(len))
        throw new PlexusError('PLX_VALIDATION', 'a blob upload needs a content-length (it is signed)', {
          details: { issues: [{ path: 'headers.content-length', message: 'required' }] },
        });
      return Number(len);
    }

    /** Authorizes, stores and records one upload of `cid`. */
    async function upload(
      req: { headers: Record<string, string | string[] | undefined>; body: unknown },
      cid: string,
    ) {
      declaredTooLarge(req.headers['content-length'] as string | undefined);
      // Media type first: a text/plain body is refused for what it is, before its signature.
      const stream = body(req.body);
      const size = signedSize(req.headers);
      const auth = req.headers[BLOB_AUTH_HEADER];
      const grant = await access.authorizeUpload(typeof auth === 'string' ? auth : undefined, cid, size);
      let stored: { cid: string; size: number } | undefined;
      try {
        stored = await blobs.put(stream, { maxBytes: Math.min(size, maxBlobBytes), expectedCid: cid });
        return stored;
      } finally {
        await grant.done(stored);
      }
    }

    r.post(
      '/v1/blobs',
      {
        schema: {
          summary: 'Upload a blob (signed BlobUpload; its cid in x-plexus-cid)',
          response: { 201: uploadedBlobSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        const cid = req.headers['x-plexus-cid'];
        if (typeof cid !== 'string' && req.headers[BLOB_AUTH_HEADER] === undefined) {
          body(req.body);
          throw new PlexusError('PLX_AUTH_REQUIRED', 'sign the upload: x-plexus-auth and x-plexus-cid');
        }
        const parsed = cidSchema.safeParse(cid);
        if (!parsed.success)
          throw new PlexusError('PLX_BAD_CID', 'x-plexus-cid must be the sha256 hex of the bytes');
        return reply.status(201).send(await upload(req, parsed.data));
      },
    );
    r.put(
      '/v1/blobs/:cid',
      {
        schema: {
          summary: 'Upload a blob under its content id (signed BlobUpload)',
          params: z.object({ cid: cidSchema }),
          response: { 201: uploadedBlobSchema, ...errorResponses },
        },
      },
      async (req, reply) => reply.status(201).send(await upload(req, req.params.cid)),
    );
    r.route({
      method: ['GET', 'HEAD'],
      url: '/v1/blobs/:cid',
      schema: { summary: 'Download a blob', params: z.object({ cid: cidSchema }) },
      handler: async (req, reply) => {
        // The right to read comes before existence: an outsider learns nothing about which cids
        // are stored (a hash of guessed bytes would confirm the guess).
        const auth = req.headers[BLOB_AUTH_HEADER];
        await access.authorizeRead(typeof auth === 'string' ? auth : undefined, req.params.cid);
        const size = await blobs.size(req.params.cid);
        if (size === undefined) throw new PlexusError('PLX_NOT_FOUND', `no blob ${req.params.cid}`);
        void reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', size)
          .header('cache-control', 'private, max-age=31536000, immutable')
          .header('etag', `"${req.params.cid}"`);
        if (req.method === 'HEAD') return reply.send();
        const buf = size <= SEND_WHOLE_MAX_BYTES ? sendBuffers.take(size) : undefined;
        if (buf) {
          // A task's input or output goes out from a reused buffer in one write: a fresh buffer
          // per download was most of the memory (and much of the CPU) the coordinator spent per task.
          try {
            await blobs.readInto(req.params.cid, buf.subarray(0, size));
          } catch (err) {
            sendBuffers.give(buf);
            throw err;
          }
          if (reply.raw.destroyed || reply.raw.socket?.destroyed !== false) {
            // The reader went away while the blob was read: nothing is sent, and the 'close'
            // that already happened would never hand the buffer back.
            sendBuffers.give(buf);
            return reply;
          }
          // 'finish': the socket took every byte (the last write's callback: the kernel has them),
          // so the buffer is free again. A response that never finishes (the client went away)
          // drops it, and the garbage collector frees it once the pending write lets it go.
          let settled = false;
          reply.raw.once('finish', () => {
            if (settled) return;
            settled = true;
            sendBuffers.give(buf);
          });
          reply.raw.once('close', () => {
            if (settled) return;
            settled = true;
            sendBuffers.drop(buf);
          });
          return reply.send(buf.subarray(0, size));
        }
        const { stream } = await blobs.openRead(req.params.cid);
        return reply.send(stream);
      },
    });
  };
}
