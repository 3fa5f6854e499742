/**
 * Settled once across bundles (review s12, F2/F4; checkSettled.ts): an execution charge, a dataset
 * sale or a storage receipt a signed bundle settled is refused when a later bundle settles it
 * again; a task is paid at most its policy's executions across bundles; a retrieval is priced at
 * the protocol's price per byte. The validator store keeps what was settled per epoch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, zeroHash } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { accounts } from '../coordinator/ledger/accounts.ts';
import type { EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import { chargePostings, type EntryFact, type EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { STORAGE_DEFAULTS } from '../coordinator/storage/constants.ts';
import { signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import {
  type RetrievalReceiptMessage,
  receiptToWire,
  signRetrievalReceipt,
} from '../protocol/storageMessages.ts';
import { type SettledMemory, settledBook } from './checkSettled.ts';
import { CHAIN_ID, client, honestEpoch, provider, providerKey } from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { bundleOf, datasetSale, entryEpoch, target } from './settledOnce.fixture.ts';
import { openValidatorStore } from './validatorStore.ts';
import { verifyEpoch } from './verifyEpoch.ts';

const { inputs, facts } = await honestEpoch();
// No slash: the epochs are about what they settle.
const f3: EpochFacts = { ...facts, slashes: [] };
const i3: EpochInputs = { ...inputs, slashRequests: [], stakeHeld: [], faulted: [] };
const later = (i: EpochInputs, n: number): EpochInputs => ({
  ...i,
  startsAt: i.startsAt + n * 1000,
  endsAt: i.endsAt + n * 1000,
  closedAt: i.closedAt + n * 1000,
});

/** Epoch 3 over (f, i), then epoch 4 over (f4, i4), each checked with what the earlier settled. */
async function twoEpochs(
  a: { f: EpochFacts; i: EpochInputs },
  b: { f: EpochFacts; i: EpochInputs },
  memory?: SettledMemory,
) {
  const book = settledBook();
  const e3 = bundleOf(a.f, a.i, 3, zeroHash);
  const v3 = await verifyEpoch({
    evidence: e3.text,
    claim: e3.claim,
    target,
    prevHash: null,
    reputation: new ReputationReplay({ complete: true }),
    settled: book.memory,
  });
  assert.ok(v3.ok, `epoch 3 signed: ${v3.ok ? '' : `${v3.fact} ${v3.claimed} ${v3.recomputed}`}`);
  book.keep(v3.settled);
  const e4 = bundleOf(b.f, b.i, 4, e3.hash);
  const v4 = await verifyEpoch({
    evidence: e4.text,
    claim: e4.claim,
    target,
    prevHash: e3.hash,
    reputation: v3.reputation!,
    settled: memory ?? book.memory,
  });
  return { v3, v4 };
}

test('B2: an execution charged in epoch 3 and again in epoch 4 is refused', async () => {
  const { v4 } = await twoEpochs({ f: f3, i: i3 }, { f: f3, i: later(i3, 1) });
  assert.equal(v4.ok, false, 'the client would pay twice');
  assert.equal(!v4.ok && v4.fact, `charge[${f3.charges[0]!.ref}].settled`);
  // Without a memory (a validator that saw no earlier bundle) the bundle holds on its own.
  const alone = await twoEpochs(
    { f: f3, i: i3 },
    { f: f3, i: later(i3, 1) },
    {
      settled: () => false,
      executions: () => 0,
      receiptPaid: () => undefined,
    },
  );
  assert.ok(alone.v4.ok, 'a validator that saw no earlier bundle signs epoch 4 on its own');
});

test('a task paid in epoch 3 is not paid another execution in epoch 4 beyond its policy', async () => {
  // Another provider-signed execution of the same task (policy none: one paid execution per task).
  const c = f3.charges[0]!;
  const assignmentId = `0x${'a3'.repeat(32)}` as Hex;
  const signature = await signPlexusMessage(providerKey, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId,
    taskId: c.taskId,
    outputCid: cidToBytes32(c.result.outputCid),
    wallMs: BigInt(c.result.usage.wallMs),
    cpuMs: BigInt(c.result.usage.cpuMs),
    peakRssBytes: BigInt(c.result.usage.peakRssBytes),
    issuedAt: BigInt(c.result.issuedAt),
  });
  const again = { ...c, ref: `exec:${assignmentId}`, assignmentId, result: { ...c.result, signature } };
  const f4: EpochFacts = { ...f3, charges: [again] };
  const epochBalances = chargePostings(again, client).map((p) => ({ account: p.account, balance: p.amount }));
  const i4 = {
    ...later(i3, 1),
    epochBalances,
    providerBalances: epochBalances.filter((b) => b.account.startsWith('provider:')),
  };
  const { v4 } = await twoEpochs({ f: f3, i: i3 }, { f: f4, i: i4 });
  assert.equal(!v4.ok && v4.fact, `charge[exec:${assignmentId}].executions`);
});

test('B5: a dataset sale charged in epoch 3 and again in epoch 4 is refused', async () => {
  const sale = await datasetSale();
  const { v4 } = await twoEpochs(
    entryEpoch(inputs, facts, sale, 3, client),
    entryEpoch(inputs, facts, sale, 4, client),
  );
  assert.equal(!v4.ok && v4.fact, `entry[${sale.ref}].settled`);
});

const readerKey = privateKeyToAccount(generatePrivateKey());
const reader = readerKey.address.toLowerCase() as Hex;
const server = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
const cid = 'ef'.repeat(32);
/** The reader's signed cumulative receipt: `bytes` served in all. */
async function receiptOf(bytes: number) {
  const m: RetrievalReceiptMessage = {
    reader: readerKey.address,
    server: server as Hex,
    objectId: `0x${cid}`,
    cumulativeBytes: BigInt(bytes),
    issuedAt: 1n,
  };
  return receiptToWire(m, await signRetrievalReceipt(readerKey, CHAIN_ID, m));
}

async function retrieval(
  bytes: number,
  fromBytes: bigint,
  pricePerByte = STORAGE_DEFAULTS.pricePerByte,
): Promise<EntryFact> {
  const amount = (BigInt(bytes) - fromBytes) * pricePerByte;
  return {
    ref: `storage:receipt:${reader}:${server}:${cid}:${bytes}`,
    kind: 'storage-retrieval',
    memo: {
      receipt: await receiptOf(bytes),
      fromBytes: fromBytes.toString(),
      pricePerByte: pricePerByte.toString(),
    },
    postings: [
      { account: accounts.clientUnsettled(reader), amount: amount.toString() },
      { account: accounts.providerEarnings(server), amount: (-amount).toString() },
    ],
  };
}

test('B3: a receipt paid in epoch 3 is not paid again in epoch 4; a higher one from what was paid is', async () => {
  const first = await retrieval(2000, 0n);
  const replayed = await twoEpochs(
    entryEpoch(inputs, facts, first, 3, reader),
    entryEpoch(inputs, facts, first, 4, reader),
  );
  assert.equal(!replayed.v4.ok && replayed.v4.fact, `entry[${first.ref}].settled`);
  // The next cumulative receipt, paid from 0 again: the 2,000 bytes paid in epoch 3 paid twice.
  const fromZero = await twoEpochs(
    entryEpoch(inputs, facts, first, 3, reader),
    entryEpoch(inputs, facts, await retrieval(3000, 0n), 4, reader),
  );
  assert.equal(
    !fromZero.v4.ok && fromZero.v4.fact,
    `entry[storage:receipt:${reader}:${server}:${cid}:3000].fromBytes`,
  );
  const honest = await twoEpochs(
    entryEpoch(inputs, facts, first, 3, reader),
    entryEpoch(inputs, facts, await retrieval(3000, 2000n), 4, reader),
  );
  assert.ok(honest.v4.ok, honest.v4.ok ? '' : honest.v4.fact);
});

test('B4: a retrieval priced above the protocol price per byte is refused', async () => {
  const inflated = await retrieval(2000, 0n, STORAGE_DEFAULTS.pricePerByte * 10n ** 6n);
  const { f, i } = entryEpoch(inputs, facts, inflated, 3, reader);
  const e = bundleOf(f, i, 3, zeroHash);
  const v = await verifyEpoch({ evidence: e.text, claim: e.claim, target, prevHash: null });
  assert.equal(!v.ok && v.fact, `entry[${inflated.ref}].pricePerByte`);
});

test('the validator store keeps what each signed epoch settled; a re-closed epoch replaces its own', () => {
  const store = openValidatorStore(':memory:');
  const c = 'http://coordinator';
  store.rememberSettled(c, 3, { refs: ['exec:0xAA'], executions: [['0xT', 1]], receipts: [['k', '2000']] });
  store.rememberSettled(c, 4, {
    refs: ['dataset:0xbb'],
    executions: [['0xt', 1]],
    receipts: [['k', '3000']],
  });
  assert.equal(store.settledRef(c, 'exec:0xaa', 4), true, 'settled by epoch 3');
  assert.equal(
    store.settledRef(c, 'exec:0xaa', 3),
    false,
    'not before epoch 3 (a re-closed 3 is checked without it)',
  );
  assert.equal(store.settledRef(c, 'dataset:0xbb', 4), false);
  assert.equal(store.settledExecutions(c, '0xt', 5), 2, 'summed over epochs');
  assert.equal(store.receiptPaid(c, 'k', 5), 3000n, 'the highest count paid');
  assert.equal(store.receiptPaid(c, 'k', 4), 2000n);
  assert.equal(store.receiptPaid(c, 'other', 5), undefined);
  store.rememberSettled(c, 4, { refs: [], executions: [], receipts: [] });
  assert.equal(store.settledExecutions(c, '0xt', 5), 1, "epoch 4's re-closed bundle replaced its own");
  assert.equal(store.settledRef(c, 'other', 9), false);
  assert.equal(store.settledRef('http://elsewhere', 'exec:0xaa', 9), false, 'per coordinator');
  store.close();
});
