/**
 * Review s12 F1 over a real WebSocket: a fresh provider key (no stake) sending `cache` messages of
 * thousands of new content ids froze the coordinator (each message cost O(n · |cached|) heap work
 * and the set had no bound). Now the advertised set is bounded (MAX_ADVERTISED_CACHE): a message
 * that would exceed it is refused whole with PLX_CACHE_LIMIT_EXCEEDED, counts as a strike, and the
 * coordinator keeps answering.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_ADVERTISED_CACHE, MAX_WS_MESSAGE_BYTES } from '../src/protocol/constants.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;

before(async () => {
  c = await testCoordinator();
});
after(async () => {
  await c.cleanup();
});

let next = 0;
/** `n` content ids never used before in this file. */
const fresh = (n: number) => Array.from({ length: n }, () => (next++).toString(16).padStart(64, '0'));

/** Sends a message the coordinator handles in the session's queue after everything sent before. */
async function barrier(p: RawProvider): Promise<void> {
  p.ws.send(
    JSON.stringify({
      type: 'capability-digest',
      challengeId: `0x${'ab'.repeat(32)}`,
      digest: 'cd'.repeat(32),
    }),
  );
  const e = await p.next('error', 30_000);
  assert.equal(
    e.code,
    'PLX_CAPABILITY_UNKNOWN',
    `a cache message before the barrier was refused: ${String(e.message)}`,
  );
}

async function healthy(): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${c.url}/v1/health`, { signal: AbortSignal.timeout(60_000) });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { ok: boolean }).ok, true);
  return performance.now() - t0;
}

test('an auth frame cannot list more cached cids than the bound (the bound is checked on `cache` messages)', () => {
  // Each cid costs 67 bytes of JSON ("…",): one frame of MAX_WS_MESSAGE_BYTES holds fewer than the bound.
  assert.ok(
    Math.floor(MAX_WS_MESSAGE_BYTES / 67) < MAX_ADVERTISED_CACHE,
    'one frame cannot carry more ids than the cap (else auth needs its own check)',
  );
});

test('cache messages over the bound are refused with PLX_CACHE_LIMIT_EXCEEDED, count as strikes, and /v1/health keeps answering', async (t) => {
  const p = await connectRawProvider(c.url, randomAccount());
  const closed = new Promise<number>((r) => p.ws.on('close', (code) => r(code)));
  // Up to the bound is accepted (two frames: one holds about 3,900 cids).
  const held = fresh(MAX_ADVERTISED_CACHE);
  p.ws.send(JSON.stringify({ type: 'cache', added: held.slice(0, 2048) }));
  p.ws.send(JSON.stringify({ type: 'cache', added: held.slice(2048) }));
  await barrier(p); // strike 1
  // A swap at the bound (as many removed as added) is accepted too.
  p.ws.send(JSON.stringify({ type: 'cache', added: fresh(100), removed: held.slice(0, 100) }));
  await barrier(p); // strike 2
  // One more is refused.
  p.ws.send(JSON.stringify({ type: 'cache', added: fresh(1) }));
  const one = await p.next('error', 30_000);
  assert.equal(one.code, 'PLX_CACHE_LIMIT_EXCEEDED'); // strike 3
  // The review's attack: frames of 3,500 new cids (229 KiB each). Each is refused, none applied.
  const baseline = await healthy();
  for (let i = 0; i < 6; i++) {
    p.ws.send(JSON.stringify({ type: 'cache', added: fresh(3500) }));
    const e = await p.next('error', 30_000);
    assert.equal(e.code, 'PLX_CACHE_LIMIT_EXCEEDED'); // strikes 4–9
    const ms = await healthy();
    t.diagnostic(
      `frame ${i + 1}: refused; /v1/health answered in ${ms.toFixed(0)} ms (baseline ${baseline.toFixed(0)} ms)`,
    );
  }
  // Strikes like any invalid message: past 20 the session is closed.
  for (let i = 0; i < 12; i++) p.ws.send(JSON.stringify({ type: 'cache', added: fresh(1) }));
  assert.equal(await closed, 1008);
  await healthy();
});
