/**
 * The exact unit price (evidence version 9, docs/validators.md "Unit price"): every execution is
 * priced at min(base price, cap) of its price epoch. A bundle whose books agree with themselves but
 * price one execution anywhere else between the base price and the cap — passed by the version-8
 * rule — is refused, naming the charge; a charge priced at the previous epoch's price (posted before
 * that epoch closed) passes, and one that claims an epoch closed before its result came is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { priceExecution } from '../coordinator/market/priceExecution.ts';
import { chargePostings } from '../coordinator/settlement/epochFacts.ts';
import { decodeEvidence, EVIDENCE_VERSION, encodeEvidence } from '../coordinator/settlement/evidence.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../protocol/constants.ts';
import { checkFacts } from './checkFacts.ts';
import { type EpochPrices, PRICE_CLOSE_RACE_MS } from './checkUnitPrice.ts';
import { CHAIN_ID, client, honestEpoch, SETTLEMENT } from './factsFixture.ts';

type Epoch = Awaited<ReturnType<typeof honestEpoch>>;

/** Re-prices the epoch's one charge at `unitPrice`, keeping the books consistent with it. */
function reprice(e: Epoch, unitPrice: bigint): void {
  const c = e.facts.charges[0]!;
  const p = priceExecution({
    cls: c.class,
    usage: c.result.usage,
    timeoutSec: 120,
    basePrice: unitPrice,
    floor: 0n,
    maxPrice: unitPrice,
    unitsMilli: BigInt(c.unitsMilli),
  });
  Object.assign(c, {
    unitPrice: p.unitPrice.toString(),
    charge: p.charge.toString(),
    fee: p.fee.toString(),
    providerAmount: p.providerAmount.toString(),
  });
  e.inputs.epochBalances = chargePostings(c, client).map((x) => ({ account: x.account, balance: x.amount }));
  e.inputs.providerBalances = e.inputs.epochBalances.filter((b) => b.account.startsWith('provider:'));
  e.inputs.unsettled = [{ client, amount: p.charge, escrow: 10n ** 18n }];
}

const check = (
  e: Epoch,
  exact: boolean,
  pricesOf: (n: number) => EpochPrices | undefined = () => undefined,
) => checkFacts(e.facts, e.inputs, CHAIN_ID, undefined, undefined, undefined, { exact, pricesOf });

test('the honest price min(base, cap) passes the exact rule', async () => {
  const e = await honestEpoch();
  assert.equal(await check(e, true), null, 'an honestly priced charge must pass');
});

test('a unit price between the base price and the cap: the old rule let it through, version 9 names it', async () => {
  const e = await honestEpoch();
  reprice(e, 9_000_000n); // base 8,000,000, the client's cap 10,000,000
  assert.equal(await check(e, false), null, 'version 8 accepted any price from min(base, cap) to the cap');
  const d = await check(e, true);
  assert.match(d?.fact ?? 'passed', /^charge\[exec:0xa1a1.*\]\.unitPrice$/, 'the overpriced charge is named');
  assert.match(d!.recomputed, /^8000000:/, `the exact price is given: ${d!.recomputed}`);
  reprice(e, 7_999_999n);
  assert.match((await check(e, true))?.fact ?? 'passed', /\.unitPrice$/, 'one unit under is refused too');
});

test('a charge posted before the previous epoch closed is priced at that epoch: re-derived from its bundle', async () => {
  const e = await honestEpoch();
  const c = e.facts.charges[0]!;
  const resultAt = c.result.issuedAt * 1000;
  const epoch2 = (closedAt: number): EpochPrices => ({ epoch: 2, closedAt, prices: [['cpu', '6000000']] });
  reprice(e, 6_000_000n);
  c.priceEpoch = 2;
  assert.equal(await check(e, true, (n) => (n === 2 ? epoch2(resultAt + 5_000) : undefined)), null, 'honest');
  // Epoch 2 closed (its price no longer in force) long before the provider signed the result.
  const late = await check(e, true, (n) => (n === 2 ? epoch2(resultAt - 10 * 60_000) : undefined));
  assert.match(
    late?.fact ?? 'passed',
    /\.priceEpoch$/,
    'a price epoch closed before the result came is refused',
  );
  // Within the close's own race (PRICE_CLOSE_RACE_MS): another replica read the epoch as open
  // while its close, stamped earlier, had not committed (failoverReplicas on a busy machine).
  const earliest = resultAt - MAX_MESSAGE_SKEW_SEC * 1000; // the earliest the result can have come
  const race = await check(e, true, (n) => (n === 2 ? epoch2(earliest - 349) : undefined));
  assert.equal(race, null, 'a result 349 ms after the close stamp may still be priced at epoch 2');
  const past = await check(e, true, (n) => (n === 2 ? epoch2(earliest - PRICE_CLOSE_RACE_MS) : undefined));
  assert.match(past?.fact ?? 'passed', /\.priceEpoch$/, 'one past the close race is refused');
  // Version 10: epoch 2's close was stamped under the lock billing takes (market/epochCloseLock.ts),
  // so a charge honestly priced at it came before it: exact, no race. A dishonest coordinator that
  // prices a result 349 ms after the close at the closed epoch's price is named.
  const locked = (closedAt: number): EpochPrices => ({ ...epoch2(closedAt), lockedClose: true });
  const exact = await check(e, true, (n) => (n === 2 ? locked(earliest - 349) : undefined));
  assert.match(exact?.fact ?? 'passed', /\.priceEpoch$/, 'after a locked close: refused, however close');
  assert.match(exact!.recomputed, /closed at/, exact!.recomputed);
  assert.equal(
    await check(e, true, (n) => (n === 2 ? locked(earliest + 1) : undefined)),
    null,
    'a result before a locked close may be priced at its epoch',
  );
  // The right epoch but not its price.
  reprice(e, 8_000_000n);
  const wrong = await check(e, true, (n) => (n === 2 ? epoch2(resultAt + 5_000) : undefined));
  assert.match(wrong?.fact ?? 'passed', /\.unitPrice$/, 'another price than epoch 2 had is refused');
  c.priceEpoch = 4; // the bundle is epoch 3
  assert.match((await check(e, true))?.fact ?? 'passed', /\.priceEpoch$/, 'a later epoch is refused');
});

test('version 9 carries the price epoch through the packed bundle; version 8 has none', async () => {
  const e = await honestEpoch();
  e.facts.charges[0]!.priceEpoch = 2;
  const bundle = {
    epoch: 3,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash: `0x${'00'.repeat(32)}` as const,
  };
  const v9 = decodeEvidence(encodeEvidence({ ...bundle, version: EVIDENCE_VERSION, ...e }).text).bundle;
  assert.equal(v9.facts.charges[0]!.priceEpoch, 2, 'the price epoch survives packing');
  const v8 = decodeEvidence(encodeEvidence({ ...bundle, version: 8, ...e }).text).bundle;
  assert.equal(v8.facts.charges[0]!.priceEpoch, undefined, 'version 8 does not carry it');
});
