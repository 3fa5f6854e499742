import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventLog } from '../events/createEventLog.ts';

/** Open event streams per coordinator; beyond this, new streams are refused with 429. */
export const MAX_EVENT_STREAMS = 1000;
/**
 * Open event streams per remote IP address (loopback included), beyond which that address's new
 * streams are refused with 429: one address cannot take the coordinator-wide cap (security review).
 */
export const MAX_EVENT_STREAMS_PER_IP = 64;
/** Events read from the log per query while a stream catches up. */
const PUMP_BATCH = 200;

/**
 * Bounds of one event stream (docs/security.md, "Denial of service and resource limits").
 *
 * @example streamEvents(req, reply, events, null, { maxCatchUp: 100 });
 */
export type StreamLimits = {
  /**
   * Events replayed from `after` before the stream skips to the newest event (a
   * `stream.truncated` event says from where to read the rest, paged, from the API).
   * Default 5,000.
   */
  maxCatchUp?: number;
  /**
   * Bytes the stream may hold unsent (in Node's socket buffer) before the pump waits for
   * 'drain'; a consumer that has not drained them within `stallMs` is dropped. Default 256 KiB.
   */
  maxBufferedBytes?: number;
  /** How long a consumer may leave the stream's buffer full before it is dropped (default 30 s). */
  stallMs?: number;
  /** Open streams per remote IP address (default {@link MAX_EVENT_STREAMS_PER_IP}). */
  maxPerIp?: number;
};

let open = 0;
/** Open streams per remote address (an address with none is not kept). */
const openByIp = new Map<string, number>();

/**
 * Streams the event log as Server-Sent Events from `Last-Event-ID` (or `?after=`) onwards,
 * waking on new events rather than polling, with a heartbeat comment so proxies keep it open.
 * Bounded per stream: the pump reads the log only while the consumer keeps up (it waits for
 * 'drain' when a write is refused), replays at most `maxCatchUp` events before skipping to the
 * newest, and a consumer that stops reading for `stallMs` is disconnected.
 *
 * @example return streamEvents(req, reply, events, jobId);
 */
export function streamEvents(
  req: FastifyRequest,
  reply: FastifyReply,
  events: EventLog,
  jobId: string | null,
  limits: StreamLimits = {},
): void {
  const maxCatchUp = limits.maxCatchUp ?? 5_000;
  const maxBuffered = limits.maxBufferedBytes ?? 256 * 1024;
  const stallMs = limits.stallMs ?? 30_000;
  const q = req.query as { after?: string };
  const header = req.headers['last-event-id'];
  let lastId = Number((typeof header === 'string' ? header : undefined) ?? q.after ?? 0);
  if (!Number.isSafeInteger(lastId) || lastId < 0) lastId = 0;
  const ip = req.ip;
  const mine = openByIp.get(ip) ?? 0;
  if (open >= MAX_EVENT_STREAMS || mine >= (limits.maxPerIp ?? MAX_EVENT_STREAMS_PER_IP)) {
    void reply
      .status(429)
      .header('retry-after', '1')
      .send({
        error: {
          code: 'PLX_RATE_LIMITED',
          message:
            open >= MAX_EVENT_STREAMS
              ? 'too many open event streams'
              : 'too many open event streams from this address',
        },
      });
    return;
  }
  open++;
  openByIp.set(ip, mine + 1);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': plexus event stream\n\n');
  let closed = false;
  let pumping = false;
  let pending = false;
  // Events replayed so far while catching up; once the log is read to its end, the stream is live.
  let replayed = 0;
  let live = false;

  /** Resolves once the consumer has drained the buffer (true) or was dropped for stalling (false). */
  function drained(): Promise<boolean> {
    if (res.writableLength <= maxBuffered) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      // Whoever stops reading is cut off: its unsent bytes are the only memory it can hold.
      const timer = setTimeout(() => done(false), stallMs);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
  }

  async function pump(): Promise<void> {
    if (pumping) {
      pending = true;
      return;
    }
    pumping = true;
    try {
      do {
        pending = false;
        for (;;) {
          if (!live && replayed >= maxCatchUp) {
            // Too far behind to replay: say so and go live from the newest event.
            const resume = await events.lastId();
            if (resume > lastId) {
              res.write(
                `event: stream.truncated\ndata: ${JSON.stringify({ jobId, after: lastId, resumedAt: resume })}\n\n`,
              );
              lastId = resume;
            }
            live = true;
          }
          const batch = await events.since(jobId, lastId, PUMP_BATCH);
          if (closed || batch.length === 0) break;
          // One write per batch: each write is a system call, and a task appends several events.
          let chunk = '';
          for (const e of batch) {
            lastId = e.id;
            // The network stream carries no job's events: those are its client's (a task event
            // for real work and none for a canary told them apart; docs/verification.md).
            if (jobId === null && e.jobId !== null) continue;
            chunk += `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ jobId: e.jobId, at: e.createdAt, ...(e.data as object) })}\n\n`;
          }
          if (!live) replayed += batch.length;
          if (chunk) res.write(chunk);
          // Backpressure: read no more of the log until the consumer took what it was sent.
          if (!(await drained())) {
            close();
            break;
          }
          // A short batch is the end of the log; events appended since then wake the pump again.
          if (batch.length < PUMP_BATCH) break;
        }
        // Read to the end of the log once: say so (a comment, which EventSource ignores), so a
        // reader of the history knows it has all of it without waiting on a heartbeat.
        if (!live && !closed) res.write(': caught up\n\n');
        live = true;
      } while (pending && !closed);
    } catch {
      close();
    } finally {
      pumping = false;
    }
  }
  const unsubscribe = events.subscribe(jobId ?? '*', () => void pump());
  const heartbeat = setInterval(() => {
    // A consumer whose buffer is still full gets no heartbeat (it would only add to it).
    if (res.writableLength === 0) res.write(': keep-alive\n\n');
  }, 15_000);
  function close(): void {
    if (closed) return;
    closed = true;
    open--;
    const left = (openByIp.get(ip) ?? 1) - 1;
    if (left > 0) openByIp.set(ip, left);
    else openByIp.delete(ip);
    clearInterval(heartbeat);
    unsubscribe();
    // A dropped consumer's unsent bytes go with its socket.
    if (res.writableLength > 0) res.destroy();
    else res.end();
  }
  req.raw.on('close', close);
  void pump();
}
