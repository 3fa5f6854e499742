/**
 * Money of the storage network on a real anvil with real processes (issue 19, docs/storage.md
 * "Money"): a coordinator settling on chain with two independent `plexus validator` processes,
 * three `plexus provider start --storage-gib` holders, and a funded client.
 *
 * - A put whose term the client's escrow cannot cover is refused (PLX_INSUFFICIENT_ESCROW).
 * - A put holds the whole term from the client's escrow (a ledger entry, counted against its
 *   available escrow); each epoch, holders are paid per proven GiB-epoch from it.
 * - Retrieval receipts: forged, inflated, replayed and another server's are refused; the honest one
 *   pays its server exactly `bytes × pricePerByte`.
 * - Epochs with these entries settle on chain (the validators re-check every storage entry); a
 *   holder's claim pays exactly its ledger earnings; the client's on-chain escrow is its deposit
 *   minus what the ledger collected; `store rm` releases the unused rest of the hold.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { getEscrowBalance } from '../src/chain/actions/client/getEscrowBalance.ts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from '../src/chain/actions/getPlxBalance.ts';
import { claimRewards } from '../src/chain/actions/provider/claimRewards.ts';
import type { AnvilInstance } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { createStorageClient } from '../src/client/createStorageClient.ts';
import { accounts } from '../src/coordinator/ledger/accounts.ts';
import { cumulativeEarnings } from '../src/coordinator/ledger/cumulativeEarnings.ts';
import { readBalances } from '../src/coordinator/ledger/readBalances.ts';
import { verifyLedger } from '../src/coordinator/ledger/verifyLedger.ts';
import { STORAGE_DEFAULTS } from '../src/coordinator/storage/constants.ts';
import { storageDb } from '../src/coordinator/storage/storageTables.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { DEVNET_CLIENT_ESCROW } from '../src/devnet/fundDevnetAccounts.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import type { EpochList, EpochView } from '../src/protocol/http/market.ts';
import {
  type RetrievalReceiptWire,
  receiptFromWire,
  receiptToWire,
  signRetrievalReceipt,
  signStorageRequest,
} from '../src/protocol/storageMessages.ts';
import { receiptsDigest } from '../src/storage/receipts.ts';
import { termEscrow } from '../src/storage/storagePrice.ts';
import { tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';
import { connectRawProvider } from './helpers/rawProvider.ts';
import { deploySettlementChain } from './helpers/settlementChain.ts';
import { spawnValidator } from './helpers/spawnValidator.ts';

const EPOCH_SECONDS = 10;
/** Windows well inside an epoch; a generous deadline for a loaded 2-core machine. */
const WINDOW_MS = 3_000;
const DEADLINE_MS = 2_500;
/** 10,000 PLX per GiB-epoch: big enough that a long term exceeds the client's 50,000 PLX escrow. */
const PRICE = 10_000n * 10n ** 18n;
const quiet = createLogger('test', { level: 'silent' });
const scrypt = { n: 1024, r: 8, p: 1 };
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};

let dir: string;
let cleanup: () => Promise<void>;
let anvil: AnvilInstance;
let ctx: PlexusWriter;
let coordinator: NodeChild;
let url: string;
const children: NodeChild[] = [];
const addresses: Record<string, string> = {};

const epochs = async (): Promise<EpochView[]> =>
  ((await (await fetch(`${url}/v1/epochs`)).json()) as EpochList).epochs;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-storage-money-'));
  const chain = await deploySettlementChain(dir, EPOCH_SECONDS, addresses);
  ({ anvil, ctx } = chain);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // Two of the three validators: the quorum is 2.
  const validatorUrls = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  await Promise.all(
    validatorUrls.map(async (vurl, i) => {
      const v = spawnValidator(i, {
        keystore: chain.validatorKeystores[i]!,
        dir,
        coordinator: url,
        url: vurl,
        env,
        print,
      });
      children.push(v);
      await v.waitFor('PLEXUS_VALIDATOR_READY', 60_000);
    }),
  );
  const args = ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')];
  args.push('--deployment', join(dir, 'deployment.json'), '--rpc-url', anvil.rpcUrl);
  args.push('--epoch-seconds', String(EPOCH_SECONDS), '--validator-url', ...validatorUrls);
  args.push('--submitter-keystore', chain.submitterKeystore);
  args.push('--storage-window-ms', String(WINDOW_MS), '--storage-deadline-ms', String(DEADLINE_MS));
  args.push('--storage-price', PRICE.toString());
  coordinator = spawnPlexus('coordinator', args, { env, print });
  await coordinator.waitFor('PLEXUS_COORDINATOR_READY', 60_000);
  // The three funded, staked providers of the settlement chain, each offering disk.
  const started = ['honest-1', 'honest-2', 'always-wrong'].map(async (name, i) => {
    const args = ['provider', 'start', '--coordinator', url, '--data-dir', join(dir, name)];
    args.push('--blender', 'none', '--cores', '1', '--region', `r${i}`, '--storage-gib', '0.05');
    const p = spawnPlexus(name, args, { env, print });
    children.push(p);
    await p.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
  });
  await Promise.all(started);
});

after(async () => {
  await Promise.all(children.map((c) => c.stop(5000)));
  await coordinator?.stop(5000);
  await anvil?.stop();
  await cleanup?.();
});

describe('storage money on anvil', { timeout: 1_800_000 }, () => {
  test('escrow held at put, holders paid per proven GiB-epoch, receipts paid to the base unit on chain, forged/inflated/replayed/other-server refused, rm refunds the rest', async (t) => {
    const account = await loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, {
      scrypt,
      logger: quiet,
    });
    // The SDK posts a read's receipts itself; this test holds them back to send them in its order.
    const held = { on: false };
    const store = createStorageClient({
      url,
      account,
      fetch: async (input, init) =>
        held.on && String(input).endsWith('/v1/storage/receipts')
          ? new Response('{"forwarded":0}', { status: 200 })
          : fetch(input, init),
    });
    const file = new Uint8Array(randomBytes(1024 * 1024));
    const put = async (epochs: number) => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          return (await store.put(file, { dataPieces: 2, parityPieces: 1, epochs, timeoutMs: 180_000 }))
            .objectId;
        } catch (err) {
          if (!String(err).includes('PLX_STORAGE_NO_CAPACITY') || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    const term = (epochs: number) =>
      termEscrow({
        objectBytes: file.length,
        k: 2,
        m: 1,
        segmentBytes: STORAGE_DEFAULTS.segmentBytes,
        price: PRICE,
        epochs,
        pricePerByte: STORAGE_DEFAULTS.pricePerByte,
      });

    // 4,000 epochs of 3 half-MiB pieces at 10,000 PLX per GiB-epoch: ~58,594 PLX > 50,000 PLX.
    await assert.rejects(
      put(4_000),
      (err: { code?: string; details?: { required?: string; available?: string } }) =>
        err.code === 'PLX_INSUFFICIENT_ESCROW' &&
        err.details?.required === term(4_000).toString() &&
        err.details?.available === DEVNET_CLIENT_ESCROW.toString(),
    );
    const TERM_EPOCHS = 6;
    const cid = await put(TERM_EPOCHS);
    const s = await store.status(cid);
    assert.equal(s.status, 'stored');
    const holders = s.pieces.map((p) => p.holder!.toLowerCase());
    assert.equal(new Set(holders).size, 3);

    const dbPath = join(dir, 'coordinator', 'plexus.db');
    const ledger = async <T>(f: (db: Awaited<ReturnType<typeof openStore>>['db']) => Promise<T>) => {
      const st = await openStore({ path: dbPath, readonly: true });
      try {
        return await f(st.db);
      } finally {
        await st.close();
      }
    };
    const client = account.address.toLowerCase();
    const balanceOf = (account: string) =>
      ledger(async (db) => (await readBalances(db, { account })).get(account) ?? 0n);
    // The whole term is held from the client's escrow.
    const hold = term(TERM_EPOCHS);
    assert.ok(hold > 0n, 'hold > 0n');
    const holdEntry = await ledger((db) =>
      db
        .selectFrom('ledger_entries')
        .select(['ref', 'kind', 'memo'])
        .where('kind', '=', 'storage-hold')
        .execute(),
    );
    assert.equal(holdEntry.length, 1);
    // The hold carries the offers it was priced over and the signed put (validators re-derive it).
    const priced = JSON.parse(holdEntry[0]!.memo) as {
      pricing?: { floor: string; offers: { provider: string }[]; pricePerGiBEpoch: string };
      owner?: unknown;
    };
    assert.equal(priced.pricing?.floor, PRICE.toString(), "the hold's floor is the configured price");
    assert.equal(priced.pricing?.pricePerGiBEpoch, PRICE.toString(), 'empty offers: priced at the floor');
    assert.ok((priced.pricing?.offers.length ?? 0) >= 3, 'every connected storage offer is listed');
    assert.ok(priced.owner, "the client's signed put travels with the hold");
    assert.equal(await balanceOf(accounts.storageTerm(cid)), -hold);

    // A read, its receipts held back.
    held.on = true;
    assert.ok(
      Buffer.from(await store.get(cid)).equals(Buffer.from(file)),
      'Buffer.from(await store.get(cid)).equals(Buffer.from(file))',
    );
    const latest = new Map<string, RetrievalReceiptWire>();
    for (const r of store.receipts()) latest.set(r.server.toLowerCase(), r);
    assert.ok(latest.size >= 2, 'K = 2 servers served the read');
    const [serverA, honest] = [...latest][0]!;
    const honestMsg = receiptFromWire(honest).message;
    const chainId = 31337;
    const stranger = privateKeyToAccount(generatePrivateKey());
    const signAs = async (by: typeof stranger | typeof account, cumulativeBytes: bigint) => {
      const m = { ...honestMsg, cumulativeBytes };
      return receiptToWire(m, await signRetrievalReceipt(by, chainId, m));
    };
    // What the coordinator forwards to the servers named (it forwards only receipts that would be
    // paid: a forged, inflated or replayed one is dropped there and never reaches a server).
    // Each post is signed by the reader (a fresh `receipts` request over the receipts' digest).
    let posts = 0;
    const send = async (receipts: RetrievalReceiptWire[]) => {
      const request = await signStorageRequest(account, chainId, {
        action: 'receipts',
        objectId: receiptsDigest(receipts),
        epochs: receipts.length,
        issuedAt: BigInt(Math.floor(Date.now() / 1000) - 100 + posts++),
      });
      const res = await fetch(`${url}/v1/storage/receipts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request, receipts }),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { forwarded: number }).forwarded;
    };
    const redemptions = () =>
      ledger((db) => storageDb(db).selectFrom('storage_redemptions').selectAll().orderBy('id').execute());
    const waitRedemptions = (n: number) =>
      waitUntil(`${n} redemptions`, async () => (await redemptions()).length >= n, 60_000);
    // Forged (the reader's fields, a stranger's signature) and inflated (the reader's own signature
    // over more bytes than the relay saw served): not forwarded.
    assert.equal(await send([await signAs(stranger, honestMsg.cumulativeBytes)]), 0, 'forged');
    assert.equal(await send([await signAs(account, honestMsg.cumulativeBytes + 1_000_000n)]), 0, 'inflated');
    // Another server's: a provider session redeeming a receipt that names serverA is refused there.
    const other = await connectRawProvider(url, privateKeyToAccount(generatePrivateKey()));
    other.ws.send(JSON.stringify({ type: 'store.redeem', receipt: honest }));
    await waitRedemptions(1);
    await other.close();
    // The honest one is forwarded and paid; the same again (replayed) is not forwarded.
    assert.equal(await send([honest]), 1);
    await waitRedemptions(2);
    assert.equal(await send([honest]), 0, 'replayed');
    const r = await redemptions();
    assert.deepEqual(
      r.map((x) => [x.ok, x.reason]),
      [
        [0, 'wrong-server'],
        [1, null],
      ],
    );
    // A new client process (a new SDK, its own counts lost) reads again: it continues from the
    // receipts already paid, so its servers' receipts are accepted, not refused as replayed.
    const again = createStorageClient({ url, account });
    assert.ok(
      Buffer.from(await again.get(cid)).equals(Buffer.from(file)),
      'Buffer.from(await again.get(cid)).equals(Buffer.from(file))',
    );
    const second = again.receipts();
    await waitRedemptions(2 + new Set(second.map((x) => x.server.toLowerCase())).size);
    const later = (await redemptions()).slice(2);
    assert.ok(later.length > 0, 'later.length > 0');
    for (const x of later) assert.deepEqual([x.ok, x.reason], [1, null], 'a second process’s receipts pay');
    const paidRetrieval = honestMsg.cumulativeBytes * STORAGE_DEFAULTS.pricePerByte;
    assert.equal(r[1]!.amount, paidRetrieval.toString(), 'paid to the base unit');
    const retrievalEntries = await ledger((db) =>
      db
        .selectFrom('ledger_entries as e')
        .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
        .select(['e.epoch', 'p.account', 'p.amount'])
        .where('e.kind', '=', 'storage-retrieval')
        .execute(),
    );
    // One entry per accepted receipt: the reader charged and the server paid exactly its amount.
    const accepted = (await redemptions()).filter((x) => x.ok === 1);
    assert.equal(retrievalEntries.length, 2 * accepted.length);
    let charged0 = 0n;
    for (const x of retrievalEntries)
      if (x.account === accounts.clientUnsettled(client)) charged0 += BigInt(x.amount);
    assert.equal(
      charged0,
      accepted.reduce((a, x) => a + BigInt(x.amount), 0n),
    );
    const serverAPaid = retrievalEntries
      .filter((x) => x.account === accounts.providerEarnings(serverA))
      .reduce((a, x) => a - BigInt(x.amount), 0n);
    assert.ok(serverAPaid >= paidRetrieval, 'serverA paid its honest receipt');
    const retrievalEpoch = Math.max(...retrievalEntries.map((x) => x.epoch));

    // Holders paid per proven GiB-epoch: wait until the retrieval's epoch and one with storage
    // payments have settled on chain (validators re-check every storage entry).
    let settledThrough = 0;
    await waitUntil(
      'storage payments and the retrieval to settle on chain',
      async () => {
        const rows = await epochs();
        const settled = rows.filter((e) => e.status === 'settled').map((e) => e.epoch);
        settledThrough = settled.length > 0 ? Math.max(...settled) : 0;
        if (settledThrough < retrievalEpoch) return false;
        const paid = await ledger((db) =>
          db
            .selectFrom('ledger_entries')
            .select('epoch')
            .where('kind', '=', 'storage-payment')
            .where('epoch', '<=', settledThrough)
            .execute(),
        );
        return paid.length > 0;
      },
      12 * EPOCH_SECONDS * 1000 + 120_000,
    );
    // Each holder earned ⌊pieceBytes × price / GiB⌋ per epoch it proved its piece, and nothing else.
    const pieceBytes = Math.ceil(file.length / 2);
    const perEpoch = (BigInt(pieceBytes) * PRICE) / 2n ** 30n;
    const payments = await ledger((db) =>
      db
        .selectFrom('ledger_entries as e')
        .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
        .select(['e.epoch', 'e.memo', 'p.account', 'p.amount'])
        .where('e.kind', '=', 'storage-payment')
        .where('e.epoch', '<=', settledThrough)
        .execute(),
    );
    let charged = 0n;
    for (const p of payments) {
      if (p.account.endsWith(':earnings')) assert.equal(BigInt(p.amount) % perEpoch, 0n);
      if (p.account === accounts.clientUnsettled(client)) charged += BigInt(p.amount);
    }
    assert.ok(charged > 0n, 'holders were paid for proven epochs');
    assert.ok(charged <= hold, 'charged <= hold');
    // On chain: serverA's claim pays exactly its cumulative ledger earnings (storage + retrieval).
    const rw = (await (await fetch(`${url}/v1/rewards/${serverA}`)).json()) as {
      epoch: number;
      cumulativeAmount: string;
      claimed: string;
      proof: `0x${string}`[];
    };
    const before = await getPlxBalance(ctx, serverA as `0x${string}`);
    await claimRewards(ctx, {
      account: serverA as `0x${string}`,
      cumulativeAmount: BigInt(rw.cumulativeAmount),
      proof: rw.proof,
    }).catch(async () => {
      // A new epoch finalized in between: the proof must come from the new root.
      Object.assign(rw, await (await fetch(`${url}/v1/rewards/${serverA}`)).json());
      return claimRewards(ctx, {
        account: serverA as `0x${string}`,
        cumulativeAmount: BigInt(rw.cumulativeAmount),
        proof: rw.proof,
      });
    });
    const received = (await getPlxBalance(ctx, serverA as `0x${string}`)) - before;
    const earned = await ledger(async (db) => (await cumulativeEarnings(db, rw.epoch)).get(serverA) ?? 0n);
    assert.equal(received, earned - BigInt(rw.claimed));
    const storageEarned = await ledger(async (db) => {
      const rows = await db
        .selectFrom('ledger_entries as e')
        .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
        .select('p.amount')
        .where('e.kind', 'in', ['storage-payment', 'storage-retrieval'])
        .where('e.epoch', '<=', rw.epoch)
        .where('p.account', '=', accounts.providerEarnings(serverA))
        .execute();
      return rows.reduce((a, x) => a - BigInt(x.amount), 0n);
    });
    assert.ok(storageEarned >= paidRetrieval, 'storageEarned >= paidRetrieval');
    assert.ok(earned >= storageEarned, 'the claim includes the storage earnings');
    // The client's on-chain escrow is its deposit minus what the finalized epochs collected.
    await waitUntil('the escrow read between two finalized epochs', async () => {
      const last = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
      const escrow = (await getEscrowBalance(ctx, account.address)).balance;
      if (Number((await getSettlementState(ctx)).lastFinalizedEpoch) !== last) return false;
      const collected = await ledger(async (db) => {
        const rows = await db
          .selectFrom('ledger_entries as e')
          .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
          .select('p.amount')
          .where('e.kind', '=', 'settle-charges')
          .where('e.epoch', '<=', last)
          .where('p.account', '=', accounts.clientUnsettled(client))
          .execute();
        return rows.reduce((a, x) => a - BigInt(x.amount), 0n);
      });
      assert.ok(collected >= charged0 + charged, 'the retrievals and the storage charges were collected');
      assert.equal(escrow, DEVNET_CLIENT_ESCROW - collected);
      return true;
    });

    // store rm: the holders are paid the epoch so far, the rest of the hold is released.
    const removed = await store.remove(cid);
    assert.equal(await balanceOf(accounts.storageTerm(cid)), 0n, 'the term is closed');
    assert.equal(await balanceOf(accounts.clientStorageEscrow(client)), 0n, 'nothing held any more');
    const spent = await ledger(async (db) => {
      const rows = await db
        .selectFrom('ledger_entries as e')
        .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
        .select('p.amount')
        .where('e.kind', '=', 'storage-payment')
        .where('p.account', '=', accounts.clientUnsettled(client))
        .execute();
      return rows.reduce((a, x) => a + BigInt(x.amount), 0n);
    });
    assert.equal(BigInt(removed.refund ?? '0'), hold - spent, 'refund = term − what holders were paid');
    assert.ok(BigInt(removed.refund ?? '0') > 0n, "BigInt(removed.refund ?? '0') > 0n");
    t.diagnostic(
      JSON.stringify({
        hold: hold.toString(),
        holdersPaid: spent.toString(),
        retrievalPaid: paidRetrieval.toString(),
        retrievalEpoch,
        settledThrough,
        claimedOnChain: received.toString(),
        refund: removed.refund,
      }),
    );
    const report = await ledger((db) => verifyLedger(db, ctx));
    assert.deepEqual(report.problems, []);
  });
});
