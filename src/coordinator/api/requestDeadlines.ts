/**
 * Time bounds on reading a request (issue 16: slow requests). A slowloris holds sockets by sending
 * a request slowly; what bounds it here:
 *
 * - the headers must arrive within `headersTimeoutMs` (Node's own check, run every second);
 * - a body must arrive within `graceMs + length / minBytesPerSec`, `length` being the declared
 *   content-length (or, for a chunked body, the route's most: `maxBodyBytes`). A JSON request
 *   (1 MiB at most) is therefore bounded by seconds, and an upload of a signed, quota-checked size
 *   by its size at the minimum rate; a legitimate upload at that rate or faster always fits.
 *
 * A request over its deadline is answered `408 PLX_REQUEST_TIMEOUT` (when nothing was answered
 * yet) and its socket closed. Responses (downloads, event streams) are not bounded here: only
 * reading what the client sends.
 */
import type { IncomingMessage, ServerOptions } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { PlexusError } from '../../errors/PlexusError.ts';

export type RequestDeadlines = {
  /** Most time for a request's headers. */
  headersTimeoutMs: number;
  /** Time any body gets on top of its size at the minimum rate. */
  graceMs: number;
  /** The slowest body rate served in full (bytes per second). */
  minBytesPerSec: number;
  /** The largest body any route takes (a chunked body without a length is bounded by it). */
  maxBodyBytes: number;
};

/** Defaults: 10 s for headers, 10 s of grace, 128 KiB/s (about 1 Mbit/s) at least. */
export const DEFAULT_REQUEST_DEADLINES = {
  headersTimeoutMs: 10_000,
  graceMs: 10_000,
  minBytesPerSec: 128 * 1024,
} as const;

/**
 * Node's http server options for these bounds: the headers timeout, checked every second (Node's
 * default check runs every 30 s), and a hard cap on a whole request (the largest body at the
 * minimum rate, plus the grace) behind the per-request deadline.
 *
 * @example Fastify({ http: httpServerOptions(d), requestTimeout: requestTimeoutMs(d) });
 */
export function httpServerOptions(d: RequestDeadlines): ServerOptions {
  return { headersTimeout: d.headersTimeoutMs, connectionsCheckingInterval: 1000 };
}

/** The whole-request cap (ms) for Fastify's `requestTimeout`. */
export function requestTimeoutMs(d: RequestDeadlines): number {
  return Math.ceil(d.headersTimeoutMs + d.graceMs + (d.maxBodyBytes / d.minBytesPerSec) * 1000);
}

/** The deadline (ms from now) of a request's body, or undefined when it has none. */
export function bodyDeadlineMs(req: IncomingMessage, d: RequestDeadlines): number | undefined {
  const len = req.headers['content-length'];
  const chunked = /chunked/i.test(req.headers['transfer-encoding'] ?? '');
  if (!chunked && (len === undefined || len === '0')) return undefined;
  const declared = chunked || !/^\d{1,15}$/.test(len ?? '') ? d.maxBodyBytes : Number(len);
  return d.graceMs + (Math.min(declared, d.maxBodyBytes) / d.minBytesPerSec) * 1000;
}

/**
 * Installs the per-request body deadline on `app` (an `onRequest` hook: one timer per request
 * with a body, cleared when the body ended or the socket closed).
 *
 * @example installRequestDeadlines(app, { ...DEFAULT_REQUEST_DEADLINES, maxBodyBytes: 512 << 20 });
 */
export function installRequestDeadlines(app: FastifyInstance, d: RequestDeadlines): void {
  app.addHook('onRequest', async (req, reply) => {
    const raw = req.raw;
    const ms = bodyDeadlineMs(raw, d);
    if (ms === undefined || raw.complete) return;
    const timer = setTimeout(() => {
      if (raw.complete) return;
      const e = new PlexusError(
        'PLX_REQUEST_TIMEOUT',
        `the request body did not arrive within ${Math.round(ms / 1000)} s (${d.minBytesPerSec} bytes/s at least)`,
        { details: { deadlineMs: Math.round(ms), minBytesPerSec: d.minBytesPerSec } },
      );
      const res = reply.raw;
      if (!res.headersSent && res.writable) {
        const body = JSON.stringify(e.toJSON());
        res.writeHead(e.status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        });
        res.end(body, () => raw.socket?.destroy());
        // Whatever happens to the write, the socket goes within a second.
        setTimeout(() => raw.socket?.destroy(), 1000).unref();
      } else raw.socket?.destroy();
    }, ms);
    timer.unref();
    // Listeners come off again: a keep-alive socket carries many requests.
    const socket = raw.socket;
    const clear = () => {
      clearTimeout(timer);
      raw.off('end', clear);
      socket?.off('close', clear);
    };
    raw.once('end', clear);
    socket?.once('close', clear);
  });
}
