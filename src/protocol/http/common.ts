/**
 * Wire shapes shared by every area of the coordinator's HTTP API: the error body, the health
 * document and what a blob upload answers. Response schemas here describe what the coordinator
 * sends (the routes serialise through them and `/docs` shows them); they are deliberately less
 * strict than request schemas, because a response that fails its schema is a 500 for the client.
 */
import { z } from 'zod';

/**
 * Every failure: `{ error: { code, message, details? } }` with a documented PLX_ code
 * (docs/errors.md). The status follows the code.
 *
 * @example
 * const body = errorBodySchema.parse(await res.json()); // body.error.code === 'PLX_NOT_FOUND'
 */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
/** @example const e: ErrorBody = { error: { code: 'PLX_NOT_FOUND', message: 'no job 0x…' } }; */
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * The error responses every JSON route declares (4xx and 5xx carry the same body), so `/docs`
 * shows them.
 *
 * @example r.get('/v1/x', { schema: { response: { 200: xSchema, ...errorResponses } } }, handler);
 */
export const errorResponses = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;

/**
 * `GET /v1/health`: liveness and the facts a client needs before signing: the chain id and the
 * coordinator network's `verifyingContract` (the escrow contract's address, or in development mode
 * a random network id the coordinator keeps in its store), both part of a job signature's EIP-712
 * domain.
 *
 * @example const { chainId, verifyingContract } = healthSchema.parse(await res.json());
 */
export const healthSchema = z.object({
  ok: z.boolean(),
  protocolVersion: z.number(),
  chainId: z.number(),
  verifyingContract: z.string(),
  providersOnline: z.number(),
  uptimeSec: z.number(),
});
/** @example const h: Health = { ok: true, protocolVersion: 1, chainId: 31337, verifyingContract: '0x…', providersOnline: 2, uptimeSec: 5 }; */
export type Health = z.infer<typeof healthSchema>;

/**
 * `POST /v1/blobs` and `PUT /v1/blobs/:cid`: the content id (sha256, 64 lowercase hex) and size.
 *
 * @example const { cid } = uploadedBlobSchema.parse(await res.json());
 */
export const uploadedBlobSchema = z.object({ cid: z.string(), size: z.number() });
/** @example const b: UploadedBlob = { cid: 'ab…', size: 1024 }; */
export type UploadedBlob = z.infer<typeof uploadedBlobSchema>;

/**
 * An amount of the 18-decimal PLX token in base units, as a decimal string (bigints do not survive
 * JSON numbers).
 *
 * @example amountSchema.parse('1500000000000000000');
 */
export const amountSchema = z.string().describe('base units of PLX (18 decimals), decimal string');
