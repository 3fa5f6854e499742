/**
 * Direct serving end to end, in one process (docs/storage.md, "Direct serving"): the coordinator's
 * storage network and routes on a loopback port, three real storage agents with real piece stores
 * (two serving directly on loopback ports, one through the relay only; their sessions are function
 * calls), a real put and a real read with `fetchPieces`. Checked: pieces come from the holders'
 * own servers; the bytes granted per server are exactly the pieces ticketed; honest receipts are
 * paid to the byte and no more; a server that sends bytes not matching the root is neither kept nor
 * receipted (the piece comes through the relay); inflated, replayed, other-server receipts and a
 * ticket for another object's piece or for a repair are refused. Through the relay alone, a reader
 * that never signs a receipt gets two pieces per holder (security review F4) and an honest one reads
 * every segment and pays exactly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { installErrorHandling } from '../src/coordinator/api/errorHandling.ts';
import { createBlobStore } from '../src/coordinator/blobs/createBlobStore.ts';
import { createMetrics } from '../src/coordinator/metrics.ts';
import { createStorageNetwork } from '../src/coordinator/storage/createStorageNetwork.ts';
import { TICKET_GRACE_MS } from '../src/coordinator/storage/directTickets.ts';
import { receiptsToForward } from '../src/coordinator/storage/forwardReceipts.ts';
import { redeemServed } from '../src/coordinator/storage/redeemServed.ts';
import { storageRoutes } from '../src/coordinator/storage/storageRoutes.ts';
import { storageDb } from '../src/coordinator/storage/storageTables.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { createLogger } from '../src/logger.ts';
import { signDirectPiece } from '../src/protocol/storageMessages.ts';
import type { StorageCoordinatorMessage } from '../src/protocol/storageSession.ts';
import { createPieceStore } from '../src/provider/storage/createPieceStore.ts';
import { createStorageAgent, type StorageAgent } from '../src/provider/storage/createStorageAgent.ts';
import { createDirectServing, startPieceServer } from '../src/provider/storage/servePieces.ts';
import { decodeObject } from '../src/storage/erasure.ts';
import { fetchPieces } from '../src/storage/fetchPieces.ts';
import { createReceiptSigner } from '../src/storage/receiptSigner.ts';

const CHAIN = 31337;
const PRICE = 3n;
const log = createLogger('test', { level: 'silent' });

/** Waits for `ok()` (every 20 ms, up to 30 s: the machine may be busy). */
async function until(ok: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function network() {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-direct-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const db = storageDb(store.db);
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const storage = createStorageNetwork({
    db: store.db,
    blobs,
    dataDir: dir,
    log,
    seedOf: async () => ({ seed: `0x${'11'.repeat(32)}`, source: 'test' }),
    config: { segmentBytes: 64 * 1024 },
  });
  const agents = new Map<string, StorageAgent>();
  const sendTo = (a: string) => (m: StorageCoordinatorMessage) => {
    agents.get(a)?.handle(m);
    return agents.has(a);
  };
  const service = Object.assign(storage, {
    async forwardReceipts(receipts: Parameters<typeof receiptsToForward>[0]['receipts']) {
      const worth = await receiptsToForward({ db, chainId: CHAIN, receipts });
      return worth.filter((r) => sendTo(r.server.toLowerCase())({ type: 'store.receipt', receipt: r }))
        .length;
    },
  });
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app, log, createMetrics());
  await app.register(
    storageRoutes({
      storage: service,
      chainId: CHAIN,
      maxPieceBytes: 1 << 20,
      stats: async () => ({}) as never,
    }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const closers: (() => Promise<void>)[] = [];

  /** A provider: a real agent and piece store; `serve`: a piece server too (`corrupt`: a lying one). */
  async function provider(serve: 'no' | 'honest' | 'corrupt' | 'broken') {
    const account = privateKeyToAccount(generatePrivateKey());
    const address = account.address.toLowerCase();
    const pieces = await createPieceStore({ dir: join(dir, `p-${address}`), capacityBytes: 1 << 24 });
    let agent: StorageAgent | undefined;
    const serving = createDirectServing({
      address,
      chainId: async () => CHAIN,
      redeem: (receipt) => agent?.handle({ type: 'store.receipt', receipt }),
      // `store.ticketUse` over the session (a function call here).
      report: (ticket, use) => {
        void storage.issueTicket.use(address, { ticket, use });
        return true;
      },
    });
    const server =
      serve === 'no'
        ? undefined
        : await startPieceServer({
            listen: '127.0.0.1:0',
            serving,
            address,
            log,
            sign: (m) => signDirectPiece(account, CHAIN, m),
            // A lying server: the piece it holds, its first byte flipped; a broken one: its disk fails.
            read: async (r) => {
              if (serve === 'broken') throw new Error('disk failed');
              const b = new Uint8Array(await pieces.read(r));
              if (serve === 'corrupt') b[0] = b[0]! ^ 0xff;
              return b;
            },
          });
    agent = createStorageAgent({
      base,
      store: pieces,
      log,
      dir: join(dir, `p-${address}`),
      address,
      send: (m) => {
        const msg = m as { type: string; orderId?: string; pieceRoot?: string; receipt?: never };
        if (msg.type === 'store.stored' || msg.type === 'store.refused')
          void storage.orderDone(
            address,
            msg.orderId!,
            msg.type === 'store.stored',
            undefined,
            msg.pieceRoot,
          );
        if (msg.type === 'store.redeem')
          void redeemServed({ db, chainId: CHAIN, pricePerByte: PRICE, epoch: 1 }, address, msg.receipt!);
        return true;
      },
      ...(server ? { direct: { serving, url: server.url, close: server.close } } : {}),
    });
    agents.set(address, agent);
    closers.push(() => agent.close());
    await storage.providerConnected({ address, region: 'eu', offer: agent.offer(), send: sendTo(address) });
    return { address, server };
  }

  const owner = privateKeyToAccount(generatePrivateKey());
  async function put(bytes: Uint8Array): Promise<string> {
    const { cid, size } = await blobs.put(Readable.from([Buffer.from(bytes)]), { maxBytes: 1 << 30 });
    await store.db
      .insertInto('blob_uploads')
      .values({ cid, account: owner.address.toLowerCase(), size, created_at: Date.now() })
      .execute();
    await storage.put({
      client: owner.address.toLowerCase() as `0x${string}`,
      action: 'put',
      objectId: `0x${cid}`,
      dataPieces: 2,
      parityPieces: 1,
      epochs: 1,
      maxPricePerGiBEpoch: 0n,
      issuedAt: BigInt(Date.now()),
    });
    await until(async () => (await storage.status(cid)).status === 'stored', 'the object stored');
    return cid;
  }
  return {
    db,
    base,
    storage,
    owner,
    provider,
    put,
    async close() {
      for (const c of closers) await c();
      await app.close();
      storage.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('reachable holders serve directly; grants bound what they redeem; honest receipts paid exactly, others refused', async () => {
  const n = await network();
  try {
    const honest = await n.provider('honest');
    const liar = await n.provider('corrupt');
    const relayOnly = await n.provider('no');
    const bytes = new Uint8Array(randomBytes(3 * 64 * 1024 - 1000));
    const cid = await n.put(bytes);
    const grant = await n.storage.grantRead(n.owner.address, cid);
    /** One piece of every segment (the last segment's are shorter). */
    const perHolder = grant.manifest.segments.reduce((a, s) => a + s.pieceBytes, 0);
    const first = grant.manifest.segments[0]!.pieceBytes;
    // The pieces of the two serving holders only: every segment needs both (K = 2).
    const pieces = grant.pieces.filter((p) => p.holder === honest.address || p.holder === liar.address);
    assert.equal(pieces.length, 6, 'two of the three pieces of each of 3 segments');
    const signer = createReceiptSigner({ account: n.owner, chainId: async () => CHAIN });
    const via: { server: string | null; direct: boolean }[] = [];
    const got = await fetchPieces({
      base: n.base,
      token: grant.token,
      manifest: grant.manifest,
      pieces,
      direct: { receiptFor: (server) => signer.latestFor(server, cid), chainId: () => CHAIN },
      onPiece: async ({ server, bytes: b, direct }) => {
        via.push({ server, direct });
        if (server) await signer.sign(server, cid, b.length);
      },
    });
    assert.deepEqual(
      decodeObject(grant.manifest, (s, i) => got.get(`${s}/${i}`)).bytes,
      bytes,
      'identical bytes',
    );
    const fromHonest = via.filter((v) => v.server === honest.address);
    const fromLiar = via.filter((v) => v.server === liar.address);
    assert.deepEqual(
      fromHonest.map((v) => v.direct),
      [true, true, true],
      "the honest holder's 3 pieces came from its own server (the 2nd and 3rd after its receipts)",
    );
    assert.deepEqual(
      fromLiar.map((v) => v.direct),
      [false, false, false],
      "the lying server's bytes did not match their roots: its pieces came through the relay",
    );
    const counted = async (server: string) =>
      Number(
        (
          await n.db
            .selectFrom('storage_receipts')
            .select('served_bytes')
            .where('reader', '=', n.owner.address.toLowerCase())
            .where('server', '=', server)
            .where('object_id', '=', cid)
            .executeTakeFirst()
        )?.served_bytes ?? 0,
      );
    assert.equal(await counted(honest.address), perHolder, 'granted to the honest server: its 3 pieces');
    assert.equal(
      await counted(liar.address),
      first + perHolder,
      'the liar: one ticket (its first answer spoiled it; no more tickets asked of it) and 3 relayed pieces',
    );
    assert.equal(await counted(relayOnly.address), 0, 'nothing asked of the third holder');

    // The reader posts its latest receipts; each server redeems its own, paid to the byte.
    assert.equal(await signer.post(n.base, cid), 2, 'both servers get their latest receipt');
    const paid = async (server: string) =>
      (
        await n.db
          .selectFrom('storage_redemptions')
          .select(['amount', 'ok'])
          .where('server', '=', server)
          .where('object_id', '=', cid)
          .execute()
      )
        .filter((r) => r.ok === 1)
        .reduce((a, r) => a + BigInt(r.amount), 0n);
    await until(
      async () => (await paid(honest.address)) === BigInt(perHolder) * PRICE,
      'the honest server paid for its 3 pieces',
    );
    await until(
      async () => (await paid(liar.address)) === BigInt(perHolder) * PRICE,
      'the liar paid for the 3 pieces relayed, not for its bad bytes',
    );
    // The honest server redeemed its receipts as they came (in requests), then the last one.
    const honestTries = await n.db
      .selectFrom('storage_redemptions')
      .select(['cumulative_bytes', 'ok'])
      .where('server', '=', honest.address)
      .execute();
    assert.deepEqual(
      honestTries.filter((r) => r.ok === 1).map((r) => Number(r.cumulative_bytes)),
      [first, 2 * first, perHolder],
      'three receipts redeemed, each for one more piece',
    );

    // Attacks on redemption: above what was granted, replayed, another server's.
    const redeem = (server: string, r: Awaited<ReturnType<typeof signer.sign>>) =>
      redeemServed({ db: n.db, chainId: CHAIN, pricePerByte: PRICE, epoch: 1 }, server, r);
    const inflated = await signer.sign(honest.address, cid, 1);
    assert.deepEqual(await redeem(honest.address, inflated), { ok: false, reason: 'inflated', amount: 0n });
    const last = signer.latestFor(liar.address, cid)!;
    assert.deepEqual(await redeem(liar.address, last), { ok: false, reason: 'replayed', amount: 0n });
    assert.deepEqual(await redeem(relayOnly.address, last), {
      ok: false,
      reason: 'wrong-server',
      amount: 0n,
    });
    assert.equal(await paid(honest.address), BigInt(perHolder) * PRICE, 'nothing more paid');

    // A ticket only for a piece the grant covers, and never for a holder that does not serve directly.
    const other = await n.put(new Uint8Array(randomBytes(5000)));
    const otherRoot = (await n.storage.grantRead(n.owner.address, other)).pieces[0]!.root;
    await assert.rejects(n.storage.issueTicket(otherRoot, grant.token), {
      code: 'PLX_STORAGE_TOKEN_INVALID',
    });
    const relayRoot = grant.pieces.find((p) => p.holder === relayOnly.address)!.root;
    await assert.rejects(n.storage.issueTicket(relayRoot, grant.token), { code: 'PLX_STORAGE_NO_DIRECT' });
    // A grant is issued at most 2 tickets per piece of the object (9 pieces: 18; 4 used above: the
    // honest server's 3 and the liar's first).
    const honestRoot = grant.pieces.find((p) => p.holder === honest.address)!.root;
    for (let i = 4; i < 18; i++) await n.storage.issueTicket(honestRoot, grant.token);
    await assert.rejects(n.storage.issueTicket(honestRoot, grant.token), { code: 'PLX_RATE_LIMITED' });
  } finally {
    await n.close();
  }
});

test('a ticket counts only while it may be served: unused, aborted or failed tickets give their bytes back, once', async () => {
  const n = await network();
  try {
    const honest = await n.provider('honest');
    const broken = await n.provider('broken');
    await n.provider('no');
    const cid = await n.put(new Uint8Array(randomBytes(64 * 1024 - 10)));
    const grant = await n.storage.grantRead(n.owner.address, cid);
    const me = n.owner.address.toLowerCase();
    const counted = async (server: string) =>
      Number(
        (
          await n.db
            .selectFrom('storage_receipts')
            .select('served_bytes')
            .where('reader', '=', me)
            .where('server', '=', server)
            .where('object_id', '=', cid)
            .executeTakeFirst()
        )?.served_bytes ?? 0,
      );
    const rootOf = (a: string) => grant.pieces.find((p) => p.holder === a)!.root;
    const pieceBytes = grant.manifest.segments[0]!.pieceBytes;

    // Issued and never used: a reservation, given back once after its expiry (before: counted for good).
    const unused = await n.storage.issueTicket(rootOf(honest.address), grant.token);
    assert.equal(await counted(honest.address), pieceBytes, 'reserved when issued');
    assert.equal(await n.storage.issueTicket.sweep(unused.expiresAt), 0, 'not before its expiry and grace');
    const late = unused.expiresAt + TICKET_GRACE_MS + 1;
    assert.equal(await n.storage.issueTicket.sweep(late), 1, 'given back after them');
    assert.equal(await counted(honest.address), 0, 'the unused ticket no longer counts');
    assert.equal(await n.storage.issueTicket.sweep(late), 0, 'given back once');
    assert.equal(
      await n.storage.issueTicket.use(honest.address, { ticket: unused.ticket, use: 'serving' }),
      false,
      'a report after the give-back changes nothing',
    );

    // Served: it stays counted; another server cannot abort it.
    const used = await n.storage.issueTicket(rootOf(honest.address), grant.token);
    const res = await fetch(`${used.url}/v1/pieces/${rootOf(honest.address)}`, {
      headers: { 'x-plexus-storage-ticket': used.ticket },
    });
    assert.equal(res.status, 200, 'served directly');
    await res.arrayBuffer();
    const stateOf = async (t: string) =>
      (await n.db.selectFrom('storage_tickets').select('state').where('ticket', '=', t).executeTakeFirst())
        ?.state;
    await until(async () => (await stateOf(used.ticket)) === 'serving', 'the server reported serving');
    assert.equal(
      await n.storage.issueTicket.use(broken.address, { ticket: used.ticket, use: 'aborted' }),
      false,
      'another server cannot give back a ticket that is not its own',
    );
    assert.equal(await n.storage.issueTicket.sweep(late + 60_000), 0, 'a served ticket is not given back');
    assert.equal(await counted(honest.address), pieceBytes, 'the piece served counts');

    // A direct fetch that fails (the server's disk) and falls back to the relay counts once, not twice.
    const brokenPiece = grant.pieces.filter(
      (p) => p.holder === broken.address || p.holder === honest.address,
    );
    await fetchPieces({
      base: n.base,
      token: grant.token,
      manifest: grant.manifest,
      pieces: brokenPiece,
      direct: { receiptFor: () => undefined, chainId: () => CHAIN },
    }).catch(() => undefined);
    await until(async () => (await counted(broken.address)) === pieceBytes, 'the aborted ticket given back');
    // The honest server refused its second ticket (the reader owed it a receipt): given back at once.
    await until(
      async () => (await counted(honest.address)) === 2 * pieceBytes,
      'the refused ticket given back: the served piece and the relayed one count',
    );
    assert.equal(
      await counted(broken.address),
      pieceBytes,
      'only the relayed piece counts for the broken server',
    );
  } finally {
    await n.close();
  }
});

test('through the relay alone: a reader that never signs gets two pieces per holder; an honest one reads every segment, twice, and pays exactly', async () => {
  const n = await network();
  try {
    for (let i = 0; i < 3; i++) await n.provider('no');
    const bytes = new Uint8Array(randomBytes(3 * 64 * 1024 - 1000));
    const cid = await n.put(bytes);
    const read = async (receipts?: ReturnType<typeof createReceiptSigner>) => {
      const grant = await n.storage.grantRead(n.owner.address, cid);
      const got = await fetchPieces({
        base: n.base,
        token: grant.token,
        manifest: grant.manifest,
        pieces: grant.pieces,
        hedgeMs: 60_000,
        ...(receipts ? { receiptFor: (server: string) => receipts.latestFor(server, cid) } : {}),
        onPiece: async ({ server, bytes: b }) => {
          if (receipts && server) await receipts.sign(server, cid, b.length);
        },
      });
      return decodeObject(grant.manifest, (s, i) => got.get(`${s}/${i}`)).bytes;
    };
    // Security review F4: before, this read (and any number after it) succeeded, unpaid.
    await assert.rejects(read(), { code: 'PLX_STORAGE_UNAVAILABLE' }, 'no third piece from a holder unpaid');
    const served = async () =>
      (
        await n.db
          .selectFrom('storage_receipts')
          .select(['server', 'served_bytes'])
          .where('object_id', '=', cid)
          .execute()
      ).map((r) => [r.server, Number(r.served_bytes)] as const);
    const firstPieces = new Map(await served());
    const { manifest } = await n.storage.grantRead(n.owner.address, cid);
    const segment0 = manifest.segments[0]!.pieceBytes;
    assert.ok(
      [...firstPieces.values()].every((b) => b <= 2 * segment0),
      `at most two pieces per holder relayed unpaid: ${JSON.stringify([...firstPieces])}`,
    );
    // An honest reader (the SDK's, the agents'): pays for that piece first, then for each it reads.
    const signer = createReceiptSigner({ account: n.owner, chainId: async () => CHAIN });
    for (const [server, b] of firstPieces) await signer.sign(server, cid, b);
    assert.deepEqual(await read(signer), bytes, 'read 1: identical bytes, every segment through the relay');
    assert.deepEqual(await read(signer), bytes, 'read 2: identical bytes');
    assert.equal(await signer.post(n.base, cid), firstPieces.size, 'each holder gets its latest receipt');
    const paid = async () =>
      (
        await n.db
          .selectFrom('storage_receipts')
          .select(['redeemed_bytes'])
          .where('object_id', '=', cid)
          .execute()
      )
        .map((r) => Number(r.redeemed_bytes))
        .reduce((a, b) => a + b, 0);
    const total = (await served()).reduce((a, [, b]) => a + b, 0);
    await until(async () => (await paid()) === total, `every byte relayed redeemed (${total})`);
    const perRead = manifest.dataPieces * manifest.segments.reduce((a, s) => a + s.pieceBytes, 0);
    assert.equal(
      total - [...firstPieces.values()].reduce((a, b) => a + b, 0),
      2 * perRead,
      'K pieces a segment, two reads',
    );
  } finally {
    await n.close();
  }
});
