import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { errorResponses, uploadedBlobSchema } from '../../protocol/http/common.ts';
import { cidSchema } from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';

/** Blobs up to this size are read whole into a reused buffer and sent in one write. */
const SEND_BUFFER_BYTES = 1024 * 1024;
/** Free send buffers kept for reuse; more concurrent downloads allocate (and drop) their own. */
const SEND_BUFFERS_KEPT = 8;

/**
 * Content-addressed blobs: `POST /v1/blobs` (server computes the id), `PUT /v1/blobs/:cid`
 * (client states it; refused on mismatch), `GET|HEAD /v1/blobs/:cid`. Bodies are streamed to
 * disk and capped at `maxBlobBytes`; downloads are immutable, sent in one write up to a MiB and
 * streamed beyond.
 *
 * @example await app.register(blobRoutes(blobs, 512 << 20));
 */
export function blobRoutes(blobs: BlobStore, maxBlobBytes: number) {
  /** Buffers free for sending small blobs (at most SEND_BUFFERS_KEPT kept). */
  const sendBuffers: Buffer[] = [];
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

    r.post(
      '/v1/blobs',
      {
        schema: {
          summary: 'Upload a blob; the server computes its content id',
          response: { 201: uploadedBlobSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        declaredTooLarge(req.headers['content-length']);
        const out = await blobs.put(body(req.body), { maxBytes: maxBlobBytes });
        return reply.status(201).send(out);
      },
    );
    r.put(
      '/v1/blobs/:cid',
      {
        schema: {
          summary: 'Upload a blob under its known content id',
          params: z.object({ cid: cidSchema }),
          response: { 201: uploadedBlobSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        declaredTooLarge(req.headers['content-length']);
        const out = await blobs.put(body(req.body), { maxBytes: maxBlobBytes, expectedCid: req.params.cid });
        return reply.status(201).send(out);
      },
    );
    r.route({
      method: ['GET', 'HEAD'],
      url: '/v1/blobs/:cid',
      schema: { summary: 'Download a blob', params: z.object({ cid: cidSchema }) },
      handler: async (req, reply) => {
        const size = await blobs.size(req.params.cid);
        if (size === undefined) throw new PlexusError('PLX_NOT_FOUND', `no blob ${req.params.cid}`);
        void reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', size)
          .header('cache-control', 'public, max-age=31536000, immutable')
          .header('etag', `"${req.params.cid}"`);
        if (req.method === 'HEAD') return reply.send();
        if (size <= SEND_BUFFER_BYTES) {
          // A task input (under a MiB) goes out from a reused buffer in one write: a fresh buffer
          // per download was most of the memory the coordinator allocated per task.
          const buf = sendBuffers.pop() ?? Buffer.allocUnsafeSlow(SEND_BUFFER_BYTES);
          try {
            await blobs.readInto(req.params.cid, buf.subarray(0, size));
          } catch (err) {
            sendBuffers.push(buf);
            throw err;
          }
          // 'finish': the socket took every byte, so the buffer is free again. A response that
          // never finishes (the client went away) keeps it, and the garbage collector frees it.
          reply.raw.once('finish', () => {
            if (sendBuffers.length < SEND_BUFFERS_KEPT) sendBuffers.push(buf);
          });
          return reply.send(buf.subarray(0, size));
        }
        const { stream } = await blobs.openRead(req.params.cid);
        return reply.send(stream);
      },
    });
  };
}
