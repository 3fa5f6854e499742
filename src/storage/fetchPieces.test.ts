/**
 * A read asks for K pieces, not K + M (fetchPieces.ts): with every holder answering, exactly K
 * requests per segment are made (before, all K + M were, and the relay counted the M extra as
 * served though the reader dropped them); a failed or corrupt piece is replaced at once by another
 * holder's; a holder that lags past the hedge delay gets one more piece asked for, and the read
 * ends with the fastest K; a segment with too few pieces fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signDirectPiece } from '../protocol/storageMessages.ts';
import { type ErasureParams, encodeObject } from './erasure.ts';
import { fetchPieces, type GrantedPiece } from './fetchPieces.ts';

const params: ErasureParams = { dataPieces: 4, parityPieces: 2, segmentBytes: 64 * 1024, leafBytes: 1024 };
const object = new Uint8Array(2 * 64 * 1024 + 100).map((_, i) => (i * 31) % 251);
const { manifest, pieces } = encodeObject(object, params);
const granted: GrantedPiece[] = manifest.segments.flatMap((seg, segment) =>
  seg.pieceRoots.map((root, index) => ({ segment, index, root, status: 'healthy' })),
);
const byRoot = new Map(granted.map((g) => [g.root, pieces[g.segment]![g.index]!] as const));

/** A fetch that serves pieces by root, with per-root behaviour; records every request. */
function fakeFetch(behave: (root: string) => 'ok' | 'fail' | 'corrupt' | 'slow' = () => 'ok') {
  const asked: string[] = [];
  const f = (async (url: string | URL, init?: RequestInit) => {
    const root = String(url).split('/').at(-1)!;
    asked.push(root);
    const how = behave(root);
    if (how === 'slow')
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 30_000);
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new Error('aborted'));
        });
      });
    if (how === 'fail') return new Response('{"code":"PLX_STORAGE_UNAVAILABLE"}', { status: 503 });
    const bytes = new Uint8Array(byRoot.get(root)!);
    if (how === 'corrupt') bytes[0] = bytes[0]! ^ 1;
    return new Response(bytes, { headers: { 'x-plexus-server': `0x${'ab'.repeat(20)}` } });
  }) as typeof fetch;
  return { f, asked };
}

const read = (f: typeof fetch, hedgeMs = 10_000) =>
  fetchPieces({ base: 'http://x', token: 't', manifest, pieces: granted, fetch: f, hedgeMs });

test('with every holder answering, a read asks for exactly K pieces per segment (data pieces first)', async () => {
  const { f, asked } = fakeFetch();
  const got = await read(f);
  assert.equal(got.size, 4 * manifest.segments.length, 'K pieces of every segment');
  assert.equal(asked.length, 4 * manifest.segments.length, 'and no more were asked for');
  for (let s = 0; s < manifest.segments.length; s++)
    for (let i = 0; i < 4; i++) assert.ok(got.has(`${s}/${i}`), 'the data pieces');
  assert.ok(
    seg0Roots(4).every((r) => asked.includes(r)),
    'data pieces asked for first',
  );
});

test('a failed or corrupt piece is replaced by another at once; too few pieces fail the read', async () => {
  const bad = new Set(seg0Roots(2));
  const { f, asked } = fakeFetch((r) => (r === [...bad][0] ? 'fail' : bad.has(r) ? 'corrupt' : 'ok'));
  const got = await read(f);
  assert.equal(got.size, 4 * manifest.segments.length, 'still K of every segment');
  const seg0 = asked.filter((r) => manifest.segments[0]!.pieceRoots.includes(r as `0x${string}`));
  assert.equal(seg0.length, 6, 'two replacements asked for in segment 0');
  const dead = new Set(seg0Roots(3));
  const { f: f3 } = fakeFetch((r) => (dead.has(r) ? 'fail' : 'ok'));
  await assert.rejects(read(f3), { code: 'PLX_STORAGE_UNAVAILABLE' });
});

test('a holder lagging past the hedge delay: one more piece is asked for, the read ends with the fastest K', async () => {
  const slow = seg0Roots(1)[0]!;
  const { f, asked } = fakeFetch((r) => (r === slow ? 'slow' : 'ok'));
  const started = Date.now();
  const got = await read(f, 50);
  assert.ok(Date.now() - started < 20_000, 'did not wait for the slow holder');
  assert.equal(got.size, 4 * manifest.segments.length, 'K of every segment');
  assert.ok(!got.has('0/0'), 'not the slow piece');
  const seg0 = asked.filter((r) => manifest.segments[0]!.pieceRoots.includes(r as `0x${string}`));
  assert.ok(seg0.length >= 5, 'a hedge in segment 0');
});

function seg0Roots(n: number): string[] {
  return manifest.segments[0]!.pieceRoots.slice(0, n) as string[];
}

test('a direct answer is kept only when the holder the coordinator named signed it for this ticket and root', async () => {
  const holder = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());
  const CHAIN = 31337;
  /** How the host at the advertised `serveUrl` signs: no signature, another key, another ticket, or the holder. */
  const run = async (how: 'none' | 'stranger' | 'other-ticket' | 'holder') => {
    let n = 0;
    const via: { direct: boolean; server: string | null }[] = [];
    const f = (async (url: string | URL, init?: RequestInit) => {
      const u = String(url);
      const root = u.split('/').at(-1)!;
      if (u.includes('/v1/storage/tickets/')) {
        const ticket = (++n).toString(16).padStart(64, '0');
        return Response.json({ server: holder.address, url: 'http://198.41.0.4:7070', ticket });
      }
      const bytes = new Uint8Array(byRoot.get(root)!);
      if (u.startsWith('http://198.41.0.4:7070')) {
        const ticket =
          (init?.headers as Record<string, string> | undefined)?.['x-plexus-storage-ticket'] ?? '';
        const by = how === 'stranger' ? stranger : holder;
        const t = how === 'other-ticket' ? 'ff'.repeat(32) : ticket;
        const sig = await signDirectPiece(by, CHAIN, {
          server: holder.address,
          ticket: `0x${t}`,
          pieceRoot: root as `0x${string}`,
        });
        return new Response(bytes, { headers: how === 'none' ? {} : { 'x-plexus-piece-signature': sig } });
      }
      return new Response(bytes, { headers: { 'x-plexus-server': `0x${'ab'.repeat(20)}` } });
    }) as typeof fetch;
    const got = await fetchPieces({
      base: 'http://x',
      token: 't',
      manifest,
      pieces: granted,
      fetch: f,
      hedgeMs: 10_000,
      direct: { receiptFor: () => undefined, chainId: () => CHAIN },
      onPiece: async ({ direct, server }) => {
        via.push({ direct, server });
      },
    });
    assert.equal(got.size, 4 * manifest.segments.length, `${how}: K pieces of every segment`);
    return via;
  };
  for (const how of ['none', 'stranger', 'other-ticket'] as const) {
    const via = await run(how);
    assert.ok(
      via.every((v) => !v.direct && v.server !== holder.address),
      `${how}: no direct piece kept (the relay served them), none credited to the named holder`,
    );
  }
  const via = await run('holder');
  assert.ok(
    via.every((v) => v.direct && v.server === holder.address),
    "signed by the named holder for this ticket: kept as the holder's",
  );
});

test('a direct server that answers with wrong bytes: the rest of the read asks for no more tickets', async () => {
  // Fails on the old code: every piece of every segment asked for a ticket first (12 here), each
  // counted to the lying server and again by the relay.
  const holder = privateKeyToAccount(generatePrivateKey());
  const tickets: string[] = [];
  const f = (async (url: string | URL, init?: RequestInit) => {
    const u = String(url);
    const root = u.split('/').at(-1)!;
    if (u.includes('/v1/storage/tickets/')) {
      tickets.push(root);
      return Response.json({
        server: holder.address,
        url: 'http://198.41.0.4:7070',
        ticket: 'ab'.repeat(32),
      });
    }
    const bytes = new Uint8Array(byRoot.get(root)!);
    if (u.startsWith('http://198.41.0.4:7070')) {
      bytes[0] = bytes[0]! ^ 1; // signed by the holder, but not the piece
      const ticket = (init?.headers as Record<string, string> | undefined)?.['x-plexus-storage-ticket'] ?? '';
      const sig = await signDirectPiece(holder, 31337, {
        server: holder.address,
        ticket: `0x${ticket}`,
        pieceRoot: root as `0x${string}`,
      });
      return new Response(bytes, { headers: { 'x-plexus-piece-signature': sig } });
    }
    return new Response(bytes, { headers: { 'x-plexus-server': `0x${'cd'.repeat(20)}` } });
  }) as typeof fetch;
  const via: boolean[] = [];
  const got = await fetchPieces({
    base: 'http://198.41.0.9:8080',
    token: 't',
    manifest,
    pieces: granted,
    fetch: f,
    hedgeMs: 10_000,
    direct: { receiptFor: () => undefined, chainId: () => 31337 },
    onPiece: async ({ direct }) => {
      via.push(direct);
    },
  });
  assert.equal(got.size, 4 * manifest.segments.length, 'every segment read (from the relay)');
  assert.ok(
    via.every((d) => !d),
    'no lying direct piece kept',
  );
  assert.ok(
    tickets.length <= 4,
    `at most the first K requests in flight used tickets, got ${tickets.length} of ${4 * manifest.segments.length}`,
  );
});
