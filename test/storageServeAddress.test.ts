/**
 * Serve addresses (docs/storage.md "Serve addresses", src/storage/serveAddress.ts): a provider's
 * advertised `serveUrl` is where readers send requests, so a coordinator of a public network
 * refuses an offer naming a loopback, private, link-local or named host (SSRF: readers would
 * request hosts inside their own networks), a local network (the coordinator on loopback: the
 * devnet, tests) accepts them, and a reader never requests a ticket's URL that fails the same
 * check (it takes the piece from the relay). All three fail on the old code: every offer was
 * welcomed and readers fetched whatever URL the ticket named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { type ErasureParams, encodeObject } from '../src/storage/erasure.ts';
import { fetchPieces, type GrantedPiece } from '../src/storage/fetchPieces.ts';
import { checkServeUrl } from '../src/storage/serveAddress.ts';
import { tempDir } from './helpers/fixtures.ts';
import { connectRawProvider } from './helpers/rawProvider.ts';

const INTERNAL = [
  'http://127.0.0.1:7070',
  'http://10.1.2.3:7070',
  'http://172.20.0.5:7070',
  'http://192.168.1.1:8080',
  'http://169.254.169.254:80', // cloud metadata
  'http://100.100.100.200:8080', // carrier-grade NAT (also a cloud metadata address)
  'http://0.0.0.0:7070',
  'http://[::1]:7070',
  'http://[fe80::1]:7070',
  'http://[fd00::1]:7070',
  'http://[::ffff:127.0.0.1]:7070',
  'http://[::ffff:a9fe:a9fe]:7070', // 169.254.169.254, IPv4-mapped in hex
  'http://0x7f000001:7070', // 127.0.0.1 spelled as one hex number
  'http://2130706433:7070', // 127.0.0.1 spelled as one decimal number
  'http://224.0.0.1:7070',
];

test('serve URLs: public IP hosts on ports 80, 443 or 1024+ and nothing more; local ones only on a local network', () => {
  for (const ok of ['http://198.41.0.4:7070', 'https://198.41.0.4:443', 'http://[2606:4700::1111]:8080'])
    assert.doesNotThrow(() => checkServeUrl(ok, { allowLocal: false }), `${ok} is a public serve URL`);
  const refused = [
    ...INTERNAL,
    'http://pieces.example.com:7070', // a name may resolve to an internal address after the check
    'http://198.41.0.4:22', // a system port
    'http://198.41.0.4:0',
    'ftp://198.41.0.4:7070',
    'http://user:pw@198.41.0.4:7070',
    'http://198.41.0.4:7070/admin',
    `http://${'a'.repeat(200)}:7070`,
  ];
  for (const bad of refused)
    assert.throws(
      () => checkServeUrl(bad, { allowLocal: false }),
      (e: { code?: string }) => e.code === 'PLX_STORAGE_SERVE_ADDRESS',
      `${bad} refused on a public network with PLX_STORAGE_SERVE_ADDRESS`,
    );
  for (const local of ['http://127.0.0.1:7070', 'http://localhost:7070', 'http://192.168.1.1:8080'])
    assert.doesNotThrow(
      () => checkServeUrl(local, { allowLocal: true }),
      `${local} accepted on a local network`,
    );
  assert.throws(
    () => checkServeUrl('http://127.0.0.1:7070/x', { allowLocal: true }),
    (e: { code?: string }) => e.code === 'PLX_STORAGE_SERVE_ADDRESS',
    'a path is refused even on a local network',
  );
});

test('a public network refuses an offer whose serve URL is internal; a local network accepts loopback', async () => {
  const { dir, cleanup } = await tempDir('plexus-serve-address-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  // Listening on loopback but told it is a public network (as behind a reverse proxy).
  const pub = await startCoordinator(
    { dataDir: `${dir}/public`, port: 0, storage: { localServeAddresses: false } },
    { log },
  );
  const local = await startCoordinator({ dataDir: `${dir}/local`, port: 0 }, { log });
  const offer = (serveUrl: string) => ({ offeredBytes: 1 << 30, freeBytes: 1 << 30, serveUrl });
  const account = () => privateKeyToAccount(generatePrivateKey());
  try {
    for (const url of ['http://127.0.0.1:7070', 'http://169.254.169.254:80', 'http://[::ffff:10.0.0.1]:7070'])
      await assert.rejects(
        connectRawProvider(pub.url, account(), { storage: offer(url) }),
        (e: { code?: string }) => e.code === 'PLX_STORAGE_SERVE_ADDRESS',
        `${url}: the session is refused with PLX_STORAGE_SERVE_ADDRESS`,
      );
    const good = await connectRawProvider(pub.url, account(), { storage: offer('http://198.41.0.4:7070') });
    await good.close();
    const onLoopback = await connectRawProvider(local.url, account(), {
      storage: offer('http://127.0.0.1:7070'),
    });
    await onLoopback.close();
  } finally {
    await pub.stop();
    await local.stop();
    await cleanup();
  }
});

test('a reader never requests a ticket URL that is internal on a public network: the relay serves the piece', async () => {
  const params: ErasureParams = { dataPieces: 2, parityPieces: 1, segmentBytes: 32 * 1024, leafBytes: 1024 };
  const { manifest, pieces } = encodeObject(
    new Uint8Array(40_000).map((_, i) => i % 251),
    params,
  );
  const granted: GrantedPiece[] = manifest.segments.flatMap((seg, segment) =>
    seg.pieceRoots.map((root, index) => ({ segment, index, root, status: 'healthy' })),
  );
  const byRoot = new Map(granted.map((g) => [g.root, pieces[g.segment]![g.index]!] as const));
  for (const internalUrl of INTERNAL) {
    const asked: string[] = [];
    const f = (async (url: string | URL) => {
      const u = String(url);
      asked.push(u);
      const root = u.split('/').at(-1)!;
      if (u.includes('/v1/storage/tickets/'))
        return Response.json({ server: `0x${'ab'.repeat(20)}`, url: internalUrl, ticket: 'cd'.repeat(32) });
      if (!u.startsWith('http://198.41.0.9:8080/'))
        return new Response('internal host reached', { status: 500 });
      return new Response(new Uint8Array(byRoot.get(root)!), {
        headers: { 'x-plexus-server': `0x${'ef'.repeat(20)}` },
      });
    }) as typeof fetch;
    const got = await fetchPieces({
      base: 'http://198.41.0.9:8080',
      token: 't',
      manifest,
      pieces: granted,
      fetch: f,
      direct: { receiptFor: () => undefined, chainId: () => 31337 },
    });
    assert.equal(got.size, 2 * manifest.segments.length, `${internalUrl}: every segment read from the relay`);
    const outside = asked.filter((u) => !u.startsWith('http://198.41.0.9:8080/'));
    assert.deepEqual(outside, [], `${internalUrl}: no request left for the internal serve URL`);
  }
});
