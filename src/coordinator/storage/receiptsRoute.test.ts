/**
 * `POST /v1/storage/receipts` (storageRoutes.ts): the post is signed by the receipts' reader as a
 * `receipts` storage request over their digest and count, fresh and used once, at most
 * MAX_RECEIPTS_PER_POST receipts. An unsigned post, one signed by another account, one whose
 * receipts were swapped after signing, a replayed post and an oversized one are refused before
 * anything is forwarded; a forged receipt inside an honest post is never forwarded (the same
 * checks as redemption).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import {
  type RetrievalReceiptMessage,
  type RetrievalReceiptWire,
  receiptToWire,
  signRetrievalReceipt,
  signStorageRequest,
} from '../../protocol/storageMessages.ts';
import { createReceiptSigner } from '../../storage/receiptSigner.ts';
import { MAX_RECEIPTS_PER_POST, receiptsDigest, verifyReceipt } from '../../storage/receipts.ts';
import { installErrorHandling } from '../api/errorHandling.ts';
import { createMetrics } from '../metrics.ts';
import type { StorageNetwork } from './createStorageNetwork.ts';
import { createUsedSignatures, storageRoutes } from './storageRoutes.ts';

const CHAIN = 31337;

async function app() {
  const forwarded: RetrievalReceiptWire[][] = [];
  const a = Fastify();
  a.setValidatorCompiler(validatorCompiler);
  a.setSerializerCompiler(serializerCompiler);
  installErrorHandling(a, createLogger('test', { level: 'silent' }), createMetrics());
  const storage = {
    // What the coordinator forwards: only receipts signed by their reader (forwardReceipts.ts also
    // checks the relay's counts, left out here).
    async forwardReceipts(receipts: RetrievalReceiptWire[]) {
      forwarded.push(receipts);
      let n = 0;
      for (const r of receipts) {
        const v = await verifyReceipt({
          chainId: CHAIN,
          receipt: {
            message: {
              reader: r.reader,
              server: r.server,
              objectId: r.objectId as `0x${string}`,
              cumulativeBytes: BigInt(r.cumulativeBytes),
              issuedAt: BigInt(r.issuedAt),
            },
            signature: r.signature,
          },
          server: r.server,
          servedBytes: 10n ** 12n,
          lastAccepted: 0n,
        });
        if (v.ok) n++;
      }
      return n;
    },
  } as unknown as StorageNetwork & { forwardReceipts(r: RetrievalReceiptWire[]): Promise<number> };
  await a.register(
    storageRoutes({ storage, chainId: CHAIN, maxPieceBytes: 1 << 20, stats: async () => ({}) as never }),
  );
  const post = async (body: unknown) => {
    const res = await a.inject({ method: 'POST', url: '/v1/storage/receipts', payload: body as object });
    return {
      status: res.statusCode,
      body: res.json() as { forwarded?: number; code?: string; error?: { code?: string } },
    };
  };
  return { a, post, forwarded };
}

const codeOf = (b: { code?: string; error?: { code?: string } }) => b.code ?? b.error?.code;

test('receipts are posted only by their reader, signed over exactly those receipts, once', async () => {
  const { a, post, forwarded } = await app();
  try {
    const reader = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const server = privateKeyToAccount(generatePrivateKey()).address;
    const cid = 'ab'.repeat(32);
    const signer = createReceiptSigner({ account: reader, chainId: async () => CHAIN });
    await signer.sign(server, cid, 1000);
    const honest = signer.latest(cid);
    const signed = (by: typeof reader, receipts: RetrievalReceiptWire[], issuedAt?: bigint) =>
      signStorageRequest(by, CHAIN, {
        action: 'receipts',
        objectId: receiptsDigest(receipts),
        epochs: receipts.length,
        ...(issuedAt ? { issuedAt } : {}),
      });

    // Unsigned (the old body): refused by the schema.
    assert.equal((await post({ receipts: honest })).status, 400);
    // Signed by someone else than the receipts' reader.
    const other = await post({ request: await signed(stranger, honest), receipts: honest });
    assert.equal(other.status, 401);
    assert.equal(codeOf(other.body), 'PLX_BAD_SIGNATURE');
    // Receipts swapped after signing: the signature does not cover them.
    const more: RetrievalReceiptMessage = {
      reader: reader.address,
      server,
      objectId: `0x${cid}`,
      cumulativeBytes: 5000n,
      issuedAt: 1n,
    };
    const swapped = [receiptToWire(more, await signRetrievalReceipt(reader, CHAIN, more))];
    const sw = await post({ request: await signed(reader, honest), receipts: swapped });
    assert.equal(sw.status, 401);
    // A `read` request passed off as a post of receipts.
    const read = await signStorageRequest(reader, CHAIN, {
      action: 'read',
      objectId: receiptsDigest(honest),
      epochs: 1,
    });
    assert.equal((await post({ request: read, receipts: honest })).status, 400);
    assert.equal(forwarded.length, 0, 'nothing forwarded so far');

    // The honest post: forwarded; the same signed post again: refused as a replay.
    const request = await signed(reader, honest);
    const ok = await post({ request, receipts: honest });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.forwarded, 1);
    const again = await post({ request, receipts: honest });
    assert.equal(again.status, 409);
    assert.equal(codeOf(again.body), 'PLX_REPLAY');

    // A forged receipt (the reader's fields, a stranger's signature) in a post the reader signed: never forwarded.
    const forgedMsg = { ...more, cumulativeBytes: 9000n };
    const forged = [receiptToWire(forgedMsg, await signRetrievalReceipt(stranger, CHAIN, forgedMsg))];
    const f = await post({ request: await signed(reader, forged), receipts: forged });
    assert.equal(f.status, 200);
    assert.equal(f.body.forwarded, 0, 'a forged receipt is not forwarded');

    // Bounded: more than MAX_RECEIPTS_PER_POST receipts in one post.
    const many = Array.from({ length: MAX_RECEIPTS_PER_POST + 1 }, () => honest[0]!);
    assert.equal((await post({ request: await signed(reader, many), receipts: many })).status, 400);
    // A stale post (issued 10 min ago) is refused.
    const stale = await post({
      request: await signed(reader, honest, BigInt(Math.floor(Date.now() / 1000) - 600)),
      receipts: honest,
    });
    assert.equal(stale.status, 401);
    assert.equal(codeOf(stale.body), 'PLX_STALE_MESSAGE');
    // The SDK's own post (receiptSigner.post) goes through.
    await signer.sign(server, cid, 500);
    const url = await a.listen({ port: 0, host: '127.0.0.1' });
    assert.equal(await signer.post(url, cid), 1);
  } finally {
    await a.close();
  }
});

test('used signatures: a replay is refused while fresh; the set stays bounded by time', () => {
  let now = 1000;
  const used = createUsedSignatures(300, () => now);
  assert.equal(used.claim('0xaa', 1000), true);
  assert.equal(used.claim('0xAA', 1000), false, 'the same signature again');
  now = 2000; // 0xaa is stale (1300) and dropped on the next claim
  assert.equal(used.claim('0xbb', 2000), true);
  assert.equal(used.size(), 1);
});
