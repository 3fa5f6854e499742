/**
 * Direct serving from the server's side (servePieces.ts), against a real piece store and a real
 * piece server on a loopback port: a request without the coordinator's ticket, with a ticket for
 * another piece, a used or expired one, and a reader that does not pay (no receipt, a forged one,
 * one for another server, one too small) is refused; a ticket that arrives just after its request
 * is served; an honest reader's receipt is handed on to be redeemed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import { recoverSigner } from '../../protocol/eip712.ts';
import {
  directPieceHash,
  type RetrievalReceiptWire,
  receiptToWire,
  signDirectPiece,
  signRetrievalReceipt,
} from '../../protocol/storageMessages.ts';
import {
  STORAGE_PIECE_SIGNATURE_HEADER,
  STORAGE_RECEIPT_HEADER,
  STORAGE_TICKET_HEADER,
} from '../../protocol/storageSession.ts';
import { pieceRoot } from '../../storage/pieceTree.ts';
import { createPieceStore } from './createPieceStore.ts';
import { createDirectServing, startPieceServer } from './servePieces.ts';

const CHAIN = 31337;
const SERVER_KEY = generatePrivateKey();
const READER_KEY = generatePrivateKey();

async function harness(o: { dir?: string } = {}) {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'plexus-serve-')));
  const store = await createPieceStore({ dir, capacityBytes: 1 << 24 });
  const pieces = [randomBytes(5000), randomBytes(5000)].map((b) => new Uint8Array(b));
  const roots = pieces.map((p) => pieceRoot(p, 1024));
  for (const [i, p] of pieces.entries()) await store.put(roots[i]!, p, 1024);
  const server = privateKeyToAccount(SERVER_KEY);
  const reader = privateKeyToAccount(READER_KEY);
  const redeemed: RetrievalReceiptWire[] = [];
  const reports: { ticket: string; use: string }[] = [];
  const clock = { skew: 0 };
  const session = { up: true };
  const serving = createDirectServing({
    address: server.address,
    chainId: async () => CHAIN,
    redeem: (r) => redeemed.push(r),
    report: (ticket, use) => {
      if (session.up) reports.push({ ticket, use });
      return session.up;
    },
    stateFile: join(dir, 'serving-accounts.log'),
    now: () => Date.now() + clock.skew,
    limits: { ticketWaitMs: 300 },
  });
  const srv = await startPieceServer({
    listen: '127.0.0.1:0',
    serving,
    read: (r) => store.read(r),
    address: server.address,
    sign: (m) => signDirectPiece(server, CHAIN, m),
    log: createLogger('test', { level: 'silent' }),
  });
  const objectId = 'ab'.repeat(32);
  const ticket = (root: string, over: Partial<{ reader: string; ttlMs: number }> = {}) => {
    const t = randomBytes(32).toString('hex');
    serving.addTicket({
      ticket: t,
      pieceRoot: root as `0x${string}`,
      reader: (over.reader ?? reader.address).toLowerCase(),
      objectId,
      maxBytes: 5000,
      ttlMs: over.ttlMs ?? 30_000,
    });
    return t;
  };
  const get = async (root: string, t: string | undefined, receipt?: RetrievalReceiptWire) => {
    const res = await fetch(`${srv.url}/v1/pieces/${root}`, {
      headers: {
        ...(t ? { [STORAGE_TICKET_HEADER]: t } : {}),
        ...(receipt ? { [STORAGE_RECEIPT_HEADER]: JSON.stringify(receipt) } : {}),
      },
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const code = res.ok
      ? undefined
      : (JSON.parse(Buffer.from(body).toString()) as { error: { code: string } }).error.code;
    return { status: res.status, body, code, signature: res.headers.get(STORAGE_PIECE_SIGNATURE_HEADER) };
  };
  const sign = async (cumulative: bigint, by = reader, to: string = server.address) =>
    receiptToWire(
      {
        reader: by.address,
        server: to as `0x${string}`,
        objectId: `0x${objectId}`,
        cumulativeBytes: cumulative,
        issuedAt: BigInt(Math.floor(Date.now() / 1000)),
      },
      await signRetrievalReceipt(by, CHAIN, {
        reader: by.address,
        server: to as `0x${string}`,
        objectId: `0x${objectId}`,
        cumulativeBytes: cumulative,
        issuedAt: BigInt(Math.floor(Date.now() / 1000)),
      }),
    );
  return {
    pieces,
    roots,
    reader,
    server,
    serving,
    redeemed,
    reports,
    session,
    dir,
    clock,
    ticket,
    get,
    sign,
    /** Stops the server, keeping its directory (a restart); `close` removes it too. */
    stop: () => srv.close(),
    async close() {
      await srv.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a piece is served only with its own live ticket, once', async () => {
  const h = await harness();
  try {
    const [a, b] = h.roots as [string, string];
    assert.equal((await h.get(a, undefined)).code, 'PLX_STORAGE_TOKEN_INVALID', 'no ticket: refused');
    assert.equal(
      (await h.get(a, 'cd'.repeat(32))).code,
      'PLX_STORAGE_TOKEN_INVALID',
      'made-up ticket: refused',
    );
    const forB = h.ticket(b);
    assert.equal((await h.get(a, forB)).code, 'PLX_STORAGE_TOKEN_INVALID', "another piece's ticket: refused");
    const expired = h.ticket(a, { ttlMs: 1_000 });
    h.clock.skew = 2_000;
    assert.equal((await h.get(a, expired)).code, 'PLX_STORAGE_TOKEN_INVALID', 'expired ticket: refused');
    h.clock.skew = 0;
    const t = h.ticket(a);
    const ok = await h.get(a, t);
    assert.equal(ok.status, 200, 'a live ticket for the piece is served');
    assert.deepEqual(ok.body, h.pieces[0], 'the bytes are the piece held');
    // The one piece paid for later (its receipt comes through the coordinator): the ticket is spent.
    await h.serving.sawReceipt(await h.sign(5000n));
    assert.equal((await h.get(a, t)).code, 'PLX_STORAGE_TOKEN_INVALID', 'a used ticket is refused');
  } finally {
    await h.close();
  }
});

test('a ticket arriving just after its request (it raced the session) is still served', async () => {
  const h = await harness();
  try {
    const root = h.roots[0]!;
    const t = randomBytes(32).toString('hex');
    const pending = h.get(root, t);
    setTimeout(
      () =>
        h.serving.addTicket({
          ticket: t,
          pieceRoot: root as `0x${string}`,
          reader: h.reader.address.toLowerCase(),
          objectId: 'ab'.repeat(32),
          maxBytes: 5000,
          ttlMs: 30_000,
        }),
      50,
    );
    assert.equal((await pending).status, 200, 'served once the ticket came');
  } finally {
    await h.close();
  }
});

test('a reader that does not pay gets one piece; a forged, foreign or short receipt does not pay', async () => {
  const h = await harness();
  try {
    const [a, b] = h.roots as [string, string];
    assert.equal((await h.get(a, h.ticket(a))).status, 200, 'the first piece needs no receipt');
    const t2 = h.ticket(b);
    const noReceipt = await h.get(b, t2);
    assert.equal(
      noReceipt.code,
      'PLX_STORAGE_RECEIPT_REQUIRED',
      'owing 5,000 bytes: the next piece waits for a receipt',
    );
    assert.equal(noReceipt.status, 402, 'payment required');
    assert.deepEqual(h.reports.at(-1), { ticket: t2, use: 'aborted' }, 'the refused ticket is given back');
    assert.equal((await h.get(b, t2)).code, 'PLX_STORAGE_TOKEN_INVALID', 'and spent');
    const stranger = privateKeyToAccount(generatePrivateKey());
    const forged = { ...(await h.sign(5000n, stranger)), reader: h.reader.address };
    assert.equal(
      (await h.get(b, h.ticket(b), forged)).code,
      'PLX_STORAGE_RECEIPT_REQUIRED',
      'forged receipt: still owed',
    );
    const foreign = await h.sign(5000n, h.reader, privateKeyToAccount(generatePrivateKey()).address);
    assert.equal(
      (await h.get(b, h.ticket(b), foreign)).code,
      'PLX_STORAGE_RECEIPT_REQUIRED',
      "another server's receipt: still owed",
    );
    const short = await h.sign(4999n);
    assert.equal(
      (await h.get(b, h.ticket(b), short)).code,
      'PLX_STORAGE_RECEIPT_REQUIRED',
      'a receipt one byte short: still owed',
    );
    assert.equal(h.redeemed.length, 1, 'only the valid short receipt was handed on to redeem');
    const paid = await h.sign(5000n);
    const ok = await h.get(b, h.ticket(b), paid);
    assert.equal(ok.status, 200, 'a receipt covering the first piece opens the second');
    assert.deepEqual(ok.body, h.pieces[1], 'the second piece');
    assert.deepEqual(
      h.redeemed.map((r) => r.cumulativeBytes),
      ['4999', '5000'],
      'the receipts seen are handed on to be redeemed, each once',
    );
  } finally {
    await h.close();
  }
});

test("each piece is signed by the server's key for its ticket and root; the coordinator hears of every use", async () => {
  const h = await harness();
  try {
    const root = h.roots[0]!;
    const t = h.ticket(root);
    const ok = await h.get(root, t);
    assert.equal(ok.status, 200, 'served');
    const digest = directPieceHash(CHAIN, {
      server: h.server.address.toLowerCase() as `0x${string}`,
      ticket: `0x${t}`,
      pieceRoot: root as `0x${string}`,
    });
    assert.equal(
      (await recoverSigner(digest, ok.signature as `0x${string}`)).toLowerCase(),
      h.server.address.toLowerCase(),
      "the answer is signed with the server's own key over this ticket and root",
    );
    assert.deepEqual(
      h.reports,
      [{ ticket: t, use: 'serving' }],
      'the coordinator was told before the bytes moved',
    );
    // No session: a ticket that cannot be reported is not served (its bytes would go uncounted).
    await h.serving.sawReceipt(await h.sign(5000n));
    h.session.up = false;
    const t2 = h.ticket(h.roots[1]!);
    assert.equal(
      (await h.get(h.roots[1]!, t2)).code,
      'PLX_STORAGE_UNAVAILABLE',
      'not served without a session',
    );
    h.session.up = true;
    assert.equal((await h.get(h.roots[1]!, t2)).status, 200, 'served once it can be reported');
  } finally {
    await h.close();
  }
});

test('a restarted server remembers who owes it: no unpaid piece after a restart', async () => {
  const h = await harness();
  const [a, b] = h.roots as [string, string];
  assert.equal((await h.get(a, h.ticket(a))).status, 200, 'the first piece needs no receipt');
  await h.stop();
  const again = await harness({ dir: h.dir });
  try {
    const t2 = again.ticket(b);
    assert.equal(
      (await again.get(b, t2)).code,
      'PLX_STORAGE_RECEIPT_REQUIRED',
      'after a restart the reader still owes the first piece (before: forgotten, a second piece free)',
    );
    assert.equal((await again.get(b, again.ticket(b), await again.sign(5000n))).status, 200, 'paid: served');
  } finally {
    await again.close();
  }
});

test('a piece that did not go out is not owed and is reported aborted', async () => {
  const h = await harness();
  try {
    const [a, b] = h.roots as [string, string];
    const t = h.ticket(a);
    // The read fails (the piece is gone from disk): nothing owed, the ticket reported aborted.
    await rm(join(h.dir, `${a}.piece`));
    assert.notEqual((await h.get(a, t)).status, 200, 'the missing piece is not served');
    assert.deepEqual(
      h.reports.map((r) => r.use),
      ['serving', 'aborted'],
      'told the coordinator it served nothing',
    );
    assert.equal(
      (await h.get(b, h.ticket(b))).status,
      200,
      'the reader owes nothing: its next piece is served',
    );
  } finally {
    await h.close();
  }
});
