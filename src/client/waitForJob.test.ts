/**
 * `waitForJob` on a flaky link: a stream that keeps breaking after delivering events is followed to
 * the end however many times it breaks (21 failures in a row still end the wait: not tested here,
 * it takes a minute and a half of backoff).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createClient } from './createClient.ts';

const JOB = `0x${'ab'.repeat(32)}`;

/** A coordinator stand-in whose event stream sends one event per connection, then drops it. */
async function flakyCoordinator(
  eventsBeforeEnd: number,
): Promise<{ url: string; server: Server; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    if (req.url === `/v1/jobs/${JOB}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: JOB, status: 'completed', tasks: [] }));
      return;
    }
    connections++;
    const last = Number(req.headers['last-event-id'] ?? 0);
    const id = last + 1;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const type = id > eventsBeforeEnd ? 'job.completed' : 'task.result';
    res.write(`id: ${id}\nevent: ${type}\ndata: {}\n\n`);
    // The link breaks mid-stream (no clean end): the client sees an error after the event.
    if (type !== 'job.completed') setImmediate(() => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    connections: () => connections,
  };
}

test('a stream that breaks after every event is followed to the end, past 21 breaks in all', async () => {
  const c = await flakyCoordinator(30);
  try {
    const seen: number[] = [];
    const job = await createClient({ url: c.url }).waitForJob(JOB, (e) => seen.push(e.id));
    assert.equal(job.status, 'completed');
    assert.equal(seen.length, 31, 'every event once, in order');
    assert.deepEqual(
      seen,
      Array.from({ length: 31 }, (_, i) => i + 1),
    );
    assert.ok(c.connections() > 21, 'more breaks than the limit on breaks in a row');
  } finally {
    c.server.close();
  }
});

// Security review: a 429 (too many open event streams) ended waitForJob at once.
test('a 429 on the event stream is retried with backoff, not thrown', async () => {
  let refusals = 0;
  const server = createServer((req, res) => {
    if (req.url === `/v1/jobs/${JOB}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: JOB, status: 'completed', tasks: [] }));
      return;
    }
    if (refusals < 3) {
      refusals++;
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(
        JSON.stringify({ error: { code: 'PLX_RATE_LIMITED', message: 'too many open event streams' } }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('id: 1\nevent: job.completed\ndata: {}\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const job = await createClient({ url }).waitForJob(JOB, undefined, AbortSignal.timeout(60_000));
    assert.equal(job.status, 'completed');
    assert.equal(refusals, 3);
  } finally {
    server.close();
  }
});
