import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventLog } from '../events/createEventLog.ts';

/** Open event streams per coordinator; beyond this, new streams are refused with 429. */
export const MAX_EVENT_STREAMS = 1000;
/** Events read from the log per query while a stream catches up. */
const PUMP_BATCH = 200;
let open = 0;

/**
 * Streams the event log as Server-Sent Events from `Last-Event-ID` (or `?after=`) onwards,
 * waking on new events rather than polling, with a heartbeat comment so proxies keep it open.
 *
 * @example return streamEvents(req, reply, events, jobId);
 */
export function streamEvents(
  req: FastifyRequest,
  reply: FastifyReply,
  events: EventLog,
  jobId: string | null,
): void {
  const q = req.query as { after?: string };
  const header = req.headers['last-event-id'];
  let lastId = Number((typeof header === 'string' ? header : undefined) ?? q.after ?? 0);
  if (!Number.isSafeInteger(lastId) || lastId < 0) lastId = 0;
  if (open >= MAX_EVENT_STREAMS) {
    void reply
      .status(429)
      .send({ error: { code: 'PLX_RATE_LIMITED', message: 'too many open event streams' } });
    return;
  }
  open++;
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
          const batch = await events.since(jobId, lastId, PUMP_BATCH);
          if (closed || batch.length === 0) break;
          // One write per batch: each write is a system call, and a task appends several events.
          let chunk = '';
          for (const e of batch) {
            lastId = e.id;
            chunk += `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ jobId: e.jobId, at: e.createdAt, ...(e.data as object) })}\n\n`;
          }
          res.write(chunk);
          // A short batch is the end of the log; events appended since then wake the pump again.
          if (batch.length < PUMP_BATCH) break;
        }
      } while (pending && !closed);
    } catch {
      close();
    } finally {
      pumping = false;
    }
  }
  const unsubscribe = events.subscribe(jobId ?? '*', () => void pump());
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  function close(): void {
    if (closed) return;
    closed = true;
    open--;
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  }
  req.raw.on('close', close);
  void pump();
}
