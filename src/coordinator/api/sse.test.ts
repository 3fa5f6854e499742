import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import Fastify from 'fastify';
import type { EventLog, JobEvent } from '../events/createEventLog.ts';
import { type StreamLimits, streamEvents } from './sse.ts';

/** An event log of `total` events (ids 1..total) that counts what it was asked for. */
function fakeLog(total: number) {
  const stats = { read: 0 };
  const log: EventLog = {
    async append() {},
    notify() {},
    async since(_jobId, after, limit = 500) {
      const out: JobEvent[] = [];
      for (let id = after + 1; id <= Math.min(total, after + limit); id++) {
        out.push({
          id,
          jobId: null,
          type: 'provider.connected',
          data: { pad: 'p'.repeat(200) },
          createdAt: id,
        });
      }
      stats.read += out.length;
      return out;
    },
    subscribe: () => () => {},
    async lastId() {
      return total;
    },
    async prune() {
      return 0;
    },
  };
  return { log, stats };
}

async function serve(log: EventLog, limits: StreamLimits) {
  const app = Fastify({ forceCloseConnections: true });
  app.get('/events', (req, reply) => streamEvents(req, reply, log, null, limits));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { app, port };
}

async function until(what: string, ok: () => boolean, ms = 60_000) {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a stream whose consumer never reads stops reading the log and is dropped', async () => {
  const { log, stats } = fakeLog(200_000);
  const { app, port } = await serve(log, { maxCatchUp: 1_000_000, stallMs: 1_000 });
  try {
    const sock = connect(port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    const connections = () => new Promise<number>((r) => app.server.getConnections((_err, n) => r(n)));
    sock.write('GET /events?after=0 HTTP/1.1\r\nhost: x\r\n\r\n');
    // Never read: the kernel buffers fill, then writes are refused.
    sock.pause();
    // Issue 16: the pump wrote the whole log into memory regardless (200,000 events, ~50 MB).
    // The server side lets go of the connection (the paused client may never see it).
    await until('the stream to fill its buffer', () => stats.read > 0);
    let open = 1;
    await until('the consumer to be dropped', () => {
      void connections().then((n) => {
        open = n;
      });
      return open === 0;
    });
    sock.destroy();
    assert.ok(stats.read < 50_000, `${stats.read} events read for a consumer that never read`);
  } finally {
    await app.close();
  }
});

test('catch-up replays at most maxCatchUp events, then skips to the newest', async () => {
  const { log, stats } = fakeLog(20_000);
  const { app, port } = await serve(log, { maxCatchUp: 1_000 });
  try {
    const ac = new AbortController();
    // Without the bound the stream never says it skipped: give up after 30 s, then assert.
    const giveUp = setTimeout(() => ac.abort(), 30_000);
    const res = await fetch(`http://127.0.0.1:${port}/events?after=0`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    while (!text.includes('stream.truncated')) {
      const chunk = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (chunk.done) break;
      text += dec.decode(chunk.value);
    }
    clearTimeout(giveUp);
    ac.abort();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].length;
    assert.ok(text.includes('"resumedAt":20000'), 'the stream says where it resumed');
    assert.ok(ids <= 1_000 + 200, `${ids} events replayed`);
    assert.ok(stats.read <= 1_400, `${stats.read} events read`);
  } finally {
    await app.close();
  }
});

// Security review: 1,000 idle streams from one address took the coordinator-wide cap, and every
// client's waitForJob failed with PLX_RATE_LIMITED.
test('one address holds at most maxPerIp streams; a closed one frees its place', async () => {
  const { log } = fakeLog(0);
  const { app, port } = await serve(log, { maxPerIp: 3 });
  const open: AbortController[] = [];
  try {
    const stream = async () => {
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/events`, { signal: ac.signal });
      if (res.status === 200) open.push(ac);
      else await res.body?.cancel();
      return res;
    };
    for (let i = 0; i < 3; i++) assert.equal((await stream()).status, 200, `stream ${i} was refused`);
    const refused = await stream();
    assert.equal(refused.status, 429, 'a fourth stream from one address was accepted');
    assert.equal(refused.headers.get('retry-after'), '1');
    open.shift()!.abort();
    // The server sees the close a little later: the freed place is taken once it does.
    let again = await stream();
    for (const end = Date.now() + 30_000; again.status === 429 && Date.now() < end; again = await stream())
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(again.status, 200, 'a closed stream did not free its place');
  } finally {
    for (const ac of open) ac.abort();
    await app.close();
  }
});
