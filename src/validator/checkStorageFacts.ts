/**
 * A validator's check of the storage network's money (issue 19, docs/storage.md "Money"):
 *
 * - a **hold** or **release** moves one amount between the client's storage escrow and the
 *   object's term, in the right direction, and nothing else;
 * - a **hold** (version 8) carries its price's evidence: the offers, floor and price, recomputed
 *   with `marketPrice`, capped by the client's signed put (checkStoragePrice.ts);
 * - a **payment** pays each listed piece once, ⌊pieceBytes × price / GiB⌋ to the holder named,
 *   at the object's price from its hold (when known), and charges the client exactly their sum
 *   from its hold;
 * - a **retrieval** carries the reader's signed cumulative receipt: the signature recovers to the
 *   reader, the server paid is the one named, the count is above what was paid before (this
 *   bundle's earlier receipts of the same reader, server and object included; earlier bundles':
 *   checkSettled.ts), and the amount is the increase × the protocol's price per byte
 *   (`STORAGE_DEFAULTS.pricePerByte`, review s12 F4), charged to the reader or, for a job's model read by one of
 *   its providers (`readFor: job-model`) or for a repair's source pieces (`readFor: repair`), to
 *   the `payer` named, whose signed put of the object (`owner`) must recover to that payer;
 * - a **repair** pays the repairer it names K × pieceBytes × the protocol's pricePerByte (`repairFee`, the bytes
 *   it fetched to rebuild the piece) and charges the client exactly that from its hold, for a
 *   well-formed piece (segment, index below K + M's bound, a root, a size), once per order (its ref);
 *   the memo carries the loss (`lost`: the fault of that piece, checked like a storage slash's
 *   evidence, by another provider than the repairer) and the client's signed put (`owner`); that
 *   an `offline` or `late` holder was so, and that the piece was rebuilt, stay the coordinator's
 *   observation;
 * - a **storage slash** whose reason is a wrong answer (`missing`, `wrong-index`, `bad-proof`)
 *   carries the challenge and the answer, and the answer must fail the challenge again here.
 *   Offline and late are the coordinator's observation (like a capability fault).
 */
import type { Address } from 'viem';
import { accounts } from '../coordinator/ledger/accounts.ts';
import type { EntryFact } from '../coordinator/settlement/epochFacts.ts';
import { STORAGE_DEFAULTS } from '../coordinator/storage/constants.ts';
import { receiptFromWire, retrievalReceiptSchema } from '../protocol/storageMessages.ts';
import { receiptKey, verifyReceipt } from '../storage/receipts.ts';
import { pieceEpochPay, repairFee } from '../storage/storagePrice.ts';
import { checkOwnerSignature } from './checkOwnerSignature.ts';
import { checkHoldPrice, checkPaymentPrice, type StoragePriceContext } from './checkStoragePrice.ts';
import { checkFaultEvidence } from './checkStorageSlash.ts';

/** Reads charged to the object's owner instead of the reader, and why. */
const OWNER_PAID_READS = new Set(['job-model', 'repair']);

/** Entry kinds this module checks. */
export const STORAGE_ENTRY_KINDS: readonly string[] = [
  'storage-hold',
  'storage-payment',
  'storage-retrieval',
  'storage-release',
  'storage-repair',
];

type Dispute = { fact: string; claimed: string; recomputed: string };

/** The postings an entry should have, compared as account → amount (order-free). */
function samePostings(name: string, e: EntryFact, expected: Map<string, bigint>): Dispute | null {
  const got = new Map<string, bigint>();
  for (const p of e.postings) got.set(p.account, (got.get(p.account) ?? 0n) + BigInt(p.amount));
  const fmt = (m: Map<string, bigint>) =>
    [...m]
      .filter(([, v]) => v !== 0n)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([a, v]) => `${a}=${v}`)
      .join(' ');
  return fmt(got) === fmt(expected)
    ? null
    : { fact: `${name}.postings`, claimed: fmt(got), recomputed: fmt(expected) };
}

const add = (m: Map<string, bigint>, a: string, v: bigint) => m.set(a, (m.get(a) ?? 0n) + v);

/**
 * Checks one storage entry of an epoch's facts. `paid` carries, across the bundle's entries, the
 * highest receipt count paid per (reader, server, object).
 *
 * @example
 * const paid = new Map<string, bigint>();
 * for (const e of facts.entries) if (STORAGE_ENTRY_KINDS.includes(e.kind)) dispute ??= await checkStorageEntry(e, chainId, paid);
 */
export async function checkStorageEntry(
  e: EntryFact,
  chainId: number,
  paid: Map<string, bigint>,
  /** The storage price check's state across the bundle (checkStoragePrice.ts); none: not checked. */
  pricing?: StoragePriceContext,
): Promise<Dispute | null> {
  const name = `entry[${e.ref}]`;
  const memo = (e.memo ?? {}) as Record<string, unknown>;
  const bad = (field: string, claimed: unknown, recomputed: unknown): Dispute => ({
    fact: `${name}.${field}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  if (e.kind === 'storage-retrieval') {
    const parsed = retrievalReceiptSchema.safeParse(memo.receipt);
    if (!parsed.success) return bad('receipt', 'missing or malformed', 'a signed retrieval receipt');
    const receipt = receiptFromWire(parsed.data);
    const m = receipt.message;
    const from = BigInt(String(memo.fromBytes ?? '-1'));
    const key = receiptKey(m);
    if (from < (paid.get(key) ?? 0n))
      return bad('fromBytes', from, `at least ${paid.get(key)} (paid already)`);
    const v = await verifyReceipt({
      chainId,
      receipt,
      server: m.server as Address,
      servedBytes: m.cumulativeBytes,
      lastAccepted: from,
    });
    if (!v.ok) return bad('receipt', v.reason, 'a receipt signed by its reader, above what was paid');
    paid.set(key, m.cumulativeBytes);
    // The price per byte served is the protocol's (STORAGE_DEFAULTS.pricePerByte: no coordinator
    // setting changes it), not the memo's word (review s12, F4).
    const price = String(memo.pricePerByte ?? '');
    if (price !== STORAGE_DEFAULTS.pricePerByte.toString())
      return bad('pricePerByte', price, STORAGE_DEFAULTS.pricePerByte);
    const amount = v.payableBytes * BigInt(price);
    // A provider's read of a job's model, or of a repair's sources, is charged to the object's
    // owner, whose signed put is in the memo; that the reader held a lease of that job (or the
    // repair order) when granted is the coordinator's observation.
    const payer = memo.payer === undefined ? m.reader.toLowerCase() : String(memo.payer);
    if (payer !== m.reader.toLowerCase()) {
      if (!OWNER_PAID_READS.has(String(memo.readFor)) || !/^0x[0-9a-f]{40}$/.test(payer))
        return bad('payer', payer, "the reader, or the object's owner for a job's model or a repair");
      const owner = await checkOwnerSignature(name, chainId, memo.owner, payer, m.objectId.slice(2));
      if (owner) return owner;
    }
    const expected = new Map<string, bigint>();
    add(expected, accounts.clientUnsettled(payer), amount);
    add(expected, accounts.providerEarnings(m.server), -amount);
    // A repair's source reads paid from the object's hold: only those, and only the owner's hold.
    if (memo.fromHold !== undefined) {
      if (memo.fromHold !== true || memo.readFor !== 'repair' || payer === m.reader.toLowerCase())
        return bad('fromHold', memo.fromHold, "only a repair's source reads are paid from the hold");
      add(expected, accounts.clientStorageEscrow(payer), -amount);
      add(expected, accounts.storageTerm(m.objectId.slice(2).toLowerCase()), amount);
    }
    return samePostings(name, e, expected);
  }
  const client = String(memo.client ?? '');
  const objectId = String(memo.objectId ?? '');
  if (!/^0x[0-9a-f]{40}$/.test(client) || !/^[0-9a-f]{64}$/.test(objectId))
    return bad('memo', JSON.stringify(memo), 'the client and object the entry is about');
  const held = accounts.clientStorageEscrow(client);
  const term = accounts.storageTerm(objectId);
  if (e.kind === 'storage-hold' || e.kind === 'storage-release') {
    const amount = BigInt(e.postings.find((p) => p.account === held)?.amount ?? '0');
    const sign = e.kind === 'storage-hold' ? 1n : -1n;
    if (amount * sign <= 0n)
      return bad('amount', amount, `a ${e.kind === 'storage-hold' ? 'debit' : 'credit'} of the hold`);
    if (e.kind === 'storage-hold' && pricing) {
      const wrong = await checkHoldPrice(name, memo, chainId, pricing);
      if (wrong) return wrong;
    }
    return samePostings(
      name,
      e,
      new Map([
        [held, amount],
        [term, -amount],
      ]),
    );
  }
  if (e.kind === 'storage-repair') return checkRepairEntry(e, chainId);
  if (e.kind !== 'storage-payment') return bad('kind', e.kind, 'a storage entry');
  const price = BigInt(String(memo.pricePerGiBEpoch ?? '0'));
  const atPut = pricing ? checkPaymentPrice(name, objectId, price, pricing) : null;
  if (atPut) return atPut;
  const pieces = Array.isArray(memo.pieces) ? (memo.pieces as Record<string, unknown>[]) : [];
  const seen = new Set<string>();
  const expected = new Map<string, bigint>();
  let total = 0n;
  for (const p of pieces) {
    const k = `${p.segment}/${p.idx}`;
    if (seen.has(k)) return bad(`pieces[${k}]`, 'paid twice', 'each piece once per epoch');
    seen.add(k);
    const pay = pieceEpochPay(Number(p.pieceBytes), price);
    total += pay;
    add(expected, accounts.providerEarnings(String(p.holder)), -pay);
  }
  add(expected, accounts.clientUnsettled(client), total);
  add(expected, held, -total);
  add(expected, term, total);
  return samePostings(name, e, expected);
}

/** Largest piece a repair can pay for: a whole segment (K = 1) of the largest segment size. */
const MAX_PIECE_BYTES = 2 ** 31;

/**
 * Checks a `storage-repair` entry: the fee is re-derived from its memo (`repairFee`) and the
 * postings must move exactly that from the client's hold of the object's term to the repairer;
 * the piece's loss (`lost`, its fault's evidence) and the client's signed put (`owner`) must hold.
 *
 * @example const dispute = await checkRepairEntry(entry, 31337); // null when it pays what the memo says it should
 */
export async function checkRepairEntry(e: EntryFact, chainId: number): Promise<Dispute | null> {
  const name = `entry[${e.ref}]`;
  const memo = (e.memo ?? {}) as Record<string, unknown>;
  const bad = (field: string, claimed: unknown, recomputed: unknown): Dispute => ({
    fact: `${name}.${field}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const client = String(memo.client ?? '');
  const objectId = String(memo.objectId ?? '');
  const repairer = String(memo.repairer ?? '');
  if (!/^0x[0-9a-f]{40}$/.test(client) || !/^[0-9a-f]{64}$/.test(objectId))
    return bad('memo', JSON.stringify(memo), 'the client and object the repair is for');
  if (!/^0x[0-9a-f]{40}$/.test(repairer)) return bad('repairer', repairer, 'the address of the repairer');
  if (repairer === client) return bad('repairer', repairer, 'a provider other than the client');
  const k = memo.dataPieces;
  const pieceBytes = memo.pieceBytes;
  const idx = memo.idx;
  const segment = memo.segment;
  if (!Number.isSafeInteger(k) || (k as number) < 1 || (k as number) > 32)
    return bad('dataPieces', k, 'K between 1 and 32');
  if (!Number.isSafeInteger(idx) || (idx as number) < 0 || (idx as number) >= 64)
    return bad('idx', idx, 'a piece index below K + M');
  if (!Number.isSafeInteger(segment) || (segment as number) < 0) return bad('segment', segment, 'a segment');
  if (
    !Number.isSafeInteger(pieceBytes) ||
    (pieceBytes as number) < 1 ||
    (pieceBytes as number) > MAX_PIECE_BYTES
  )
    return bad('pieceBytes', pieceBytes, `a piece of 1 to ${MAX_PIECE_BYTES} bytes`);
  if (!/^0x[0-9a-f]{64}$/.test(String(memo.root ?? '')))
    return bad('root', memo.root, "the piece's Merkle root");
  const price = String(memo.pricePerByte ?? '');
  if (price !== STORAGE_DEFAULTS.pricePerByte.toString())
    return bad('pricePerByte', price, `${STORAGE_DEFAULTS.pricePerByte} (the protocol's price per byte)`);
  // The loss it repairs: that piece's fault, of another provider, whose evidence holds here.
  const lost = (memo.lost ?? {}) as Record<string, unknown>;
  if (lost.segment !== segment || lost.index !== idx)
    return bad('lost', `${lost.segment}/${lost.index}`, `the fault of piece ${segment}/${idx}`);
  const loser = String(lost.provider ?? '');
  if (!/^0x[0-9a-f]{40}$/.test(loser) || loser === repairer)
    return bad('lost.provider', loser, 'the holder that lost the piece, not the repairer');
  const fault = checkFaultEvidence(`${name}.lost`, String(memo.root), lost);
  if (fault) return fault;
  const owner = await checkOwnerSignature(name, chainId, memo.owner, client, objectId);
  if (owner) return owner;
  const fee = repairFee(pieceBytes as number, k as number, BigInt(price));
  if (fee <= 0n) return bad('fee', fee, 'a positive repair fee');
  const expected = new Map<string, bigint>();
  add(expected, accounts.clientUnsettled(client), fee);
  add(expected, accounts.clientStorageEscrow(client), -fee);
  add(expected, accounts.storageTerm(objectId), fee);
  add(expected, accounts.providerEarnings(repairer), -fee);
  return samePostings(name, e, expected);
}
