import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../metrics.ts';

/** Fastify's own error codes, mapped onto ours so every failure carries a documented PLX_ code. */
const FASTIFY_CODES: Record<string, PlexusError['code']> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'PLX_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'PLX_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PLX_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'PLX_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'PLX_VALIDATION',
  FST_ERR_VALIDATION: 'PLX_VALIDATION',
};

/**
 * Turns anything thrown in a route into `{ error: { code, message, details } }` with the status of
 * its PLX_ code. Unknown errors are logged with the request id and answered with PLX_INTERNAL,
 * without their message (it may hold internals).
 *
 * @example installErrorHandling(app, log, metrics);
 */
export function installErrorHandling(app: FastifyInstance, log: Logger, metrics: Metrics): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    let e: PlexusError;
    if (err instanceof PlexusError) e = err;
    else if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: [err.validationContext, ...(v.instancePath ?? '').split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      }));
      e = new PlexusError('PLX_VALIDATION', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
        details: { issues },
      });
    } else if (err.code && FASTIFY_CODES[err.code]) {
      e = new PlexusError(FASTIFY_CODES[err.code]!, err.message);
    } else if (err instanceof SyntaxError) {
      e = new PlexusError('PLX_BAD_JSON', err.message);
    } else if (req.raw.aborted || (err as { code?: string }).code === 'ECONNRESET') {
      // The client went away mid-body (a cancelled upload, or a slowloris giving up): not our
      // bug, and nobody is left to answer; logged without a stack so a flood cannot fill the log.
      log.debug({ reqId: req.id, url: req.url }, 'client aborted the request');
      e = new PlexusError('PLX_VALIDATION', 'the request body was not received in full');
    } else {
      log.error({ err, reqId: req.id, url: req.url }, 'unhandled error in request');
      e = new PlexusError('PLX_INTERNAL', `internal error (request ${req.id})`);
    }
    metrics.rejectedMessages.inc({ code: e.code });
    // A body we stopped reading (an oversized upload) leaves the connection unusable: close it.
    if (!req.raw.complete) void reply.header('connection', 'close');
    void reply.status(e.status).header('x-request-id', req.id).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new PlexusError('PLX_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.status(404).send(e.toJSON());
  });
}
