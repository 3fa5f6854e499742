import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveAuditPolicy, auditRate, economicAuditBound } from './auditPolicy.ts';
import {
  concurrencyLimit,
  isSuspended,
  isTrusted,
  newReputation,
  parseReputation,
  reputationScore,
  updateReputation,
} from './reputation.ts';

const DAY = 24 * 3600 * 1000;

test('Beta reputation: valid results raise the score, a fault drops it and resets the counter', () => {
  let r = newReputation(0);
  assert.equal(reputationScore(r), 0.5);
  for (let i = 1; i <= 20; i++) r = updateReputation(r, 'valid', i * 1000);
  assert.equal(r.consecutiveValid, 20);
  assert.ok(reputationScore(r) > 0.9, 'reputationScore(r) > 0.9');
  assert.ok(isTrusted(r), 'isTrusted(r)');
  r = updateReputation(r, 'fault', 21_000);
  assert.equal(r.consecutiveValid, 0);
  assert.equal(r.faults, 1);
  assert.ok(reputationScore(r) < 0.75, 'reputationScore(r) < 0.75');
  assert.ok(!isTrusted(r), '!isTrusted(r)');
  const t = updateReputation(r, 'timeout', 22_000);
  assert.equal(t.consecutiveValid, 0);
  assert.ok(reputationScore(t) < reputationScore(r), 'reputationScore(t) < reputationScore(r)');
});

test('old evidence decays with the half-life; state round-trips through JSON', () => {
  let r = newReputation(0);
  r = updateReputation(r, 'fault', 0);
  const before = r.beta - 1;
  r = updateReputation(r, 'valid', 7 * DAY);
  assert.ok(Math.abs(r.beta - 1 - before / 2) < 1e-9, 'one half-life halves the fault weight');
  assert.deepEqual(parseReputation(JSON.parse(JSON.stringify(r))), r);
  assert.throws(() => parseReputation({ ...r, alpha: 0 }));
});

test('economic bound p ≥ C/(R+F): exact, rounded up, in bigint base units', () => {
  assert.equal(economicAuditBound({ cost: 80n, reward: 100n, slashable: 2000n }) >= 80 / 2100, true);
  assert.ok(
    economicAuditBound({ cost: 80n, reward: 100n, slashable: 2000n }) - 80 / 2100 < 1e-12,
    'economicAuditBound({ cost: 80n, reward: 100n, slashable: 2000n }) - 80 / 2100 < 1e-12',
  );
  assert.equal(economicAuditBound({ cost: 0n, reward: 100n, slashable: 0n }), 0);
  assert.equal(economicAuditBound({ cost: 5n, reward: 1n, slashable: 1n }), 1);
  // 10^30 base units (far beyond 2^53) still work.
  const big = 10n ** 30n;
  assert.ok(
    Math.abs(economicAuditBound({ cost: big, reward: 3n * big, slashable: 7n * big }) - 0.1) < 1e-12,
    'Math.abs(economicAuditBound({ cost: big, reward: 3n * big, slashable: 7n * big }) - 0.1) < 1e-12',
  );
});

test('audit rate falls with the record but never below the economic bound or the floor', () => {
  let r = newReputation(0);
  assert.equal(auditRate({ reputation: r, bound: 0.01 }), 1);
  const rates: number[] = [];
  for (let i = 1; i <= 500; i++) {
    r = updateReputation(r, 'valid', i);
    rates.push(auditRate({ reputation: r, bound: 0.01 }));
  }
  for (let i = 1; i < rates.length; i++) assert.ok(rates[i]! <= rates[i - 1]!, 'rates[i]! <= rates[i - 1]!');
  assert.equal(rates.at(-1), 0.04, 'long clean record → policy floor');
  assert.equal(auditRate({ reputation: r, bound: 0.123 }), 0.123, 'bound beats the floor');
  const faulty = updateReputation(r, 'fault', 600);
  assert.ok(auditRate({ reputation: faulty, bound: 0 }) >= 0.5, 'a fault sends the rate back up');
});

test('shouldAudit is reproducible, order-independent, and hits the rate', () => {
  const rep = updateReputation(newReputation(0), 'valid', 1);
  const policy = new AdaptiveAuditPolicy({
    seed: 's',
    reputationOf: () => rep,
    params: { floor: 0.1, newRate: 0.2 },
  });
  const task = (i: number) => ({ taskId: `t${i}`, reward: 100n, honestCost: 1n, slashable: 1000n });
  const p = '0x0000000000000000000000000000000000000001' as const;
  const first = Array.from({ length: 20_000 }, (_, i) => policy.shouldAudit(p, task(i)).audit);
  const again = Array.from(
    { length: 20_000 },
    (_, i) => policy.shouldAudit(p, task(19_999 - i)).audit,
  ).reverse();
  assert.deepEqual(first, again);
  const rate = policy.rateFor(p, task(0)).rate; // 0.2·2/(2+1) = 0.1333
  const share = first.filter(Boolean).length / first.length;
  assert.ok(Math.abs(share - rate) < 0.01, `share ${share} vs rate ${rate}`);
  const other = new AdaptiveAuditPolicy({
    seed: 't',
    reputationOf: () => rep,
    params: { floor: 0.1, newRate: 0.2 },
  });
  assert.notDeepEqual(
    first.slice(0, 200),
    Array.from({ length: 200 }, (_, i) => other.shouldAudit(p, task(i)).audit),
  );
  assert.throws(() => new AdaptiveAuditPolicy({ seed: 's', reputationOf: () => rep, params: { floor: -1 } }));
});

test('new or doubtful providers are trusted with fewer concurrent tasks', () => {
  let r = newReputation(0);
  assert.equal(concurrencyLimit(r), 1);
  for (let i = 1; i <= 20; i++) r = updateReputation(r, 'valid', i);
  const veteran = concurrencyLimit(r);
  assert.ok(veteran >= 16 && veteran < 32, `veteran ${veteran}`);
  const faulted = updateReputation(r, 'fault', 41);
  assert.equal(concurrencyLimit(faulted), 1);
  let flaky = r;
  for (let i = 0; i < 40; i++) flaky = updateReputation(flaky, 'timeout', 42 + i);
  assert.ok(concurrencyLimit(flaky) < veteran, 'timeouts lower the limit');
});

test('an agreed outcome (vouched for by untrusted providers only) never builds trust', () => {
  let rep = newReputation(0);
  for (let i = 0; i < 50; i++) rep = updateReputation(rep, 'agreed', i);
  assert.equal(rep.consecutiveValid, 0);
  assert.equal(rep.verifiedValid, 50);
  assert.ok(reputationScore(rep) > 0.9, 'reputationScore(rep) > 0.9');
  assert.equal(isTrusted(rep), false);
  rep = updateReputation(rep, 'valid', 51);
  assert.equal(rep.consecutiveValid, 1, 'a check by a trusted provider or a canary counts');
});

test('agreement among untrusted providers earns concurrency (exposure) for a clean record, never trust', () => {
  let rep = newReputation(0);
  for (let i = 0; i < 8; i++) rep = updateReputation(rep, 'agreed', i);
  assert.equal(rep.consecutiveValid, 0, 'agreement never raises the trust counter');
  assert.equal(isTrusted(rep), false);
  assert.ok(
    concurrencyLimit(rep) >= 4,
    `a clean record of 8 agreed results prefetches (${concurrencyLimit(rep)})`,
  );
  // Once faulted, only results checked by trusted providers or canaries count again.
  rep = updateReputation(rep, 'fault', 9);
  for (let i = 0; i < 8; i++) rep = updateReputation(rep, 'agreed', 10 + i);
  assert.equal(concurrencyLimit(rep), 1);
  for (let i = 0; i < 8; i++) rep = updateReputation(rep, 'valid', 20 + i);
  assert.ok(concurrencyLimit(rep) > 1, 'concurrencyLimit(rep) > 1');
});

test('isSuspended: a fault with no verified result since and a score below a newcomer’s; a long record survives one fault', () => {
  const t = 0;
  assert.equal(isSuspended(newReputation(t)), false);
  const faulted = updateReputation(newReputation(t), 'fault', t);
  assert.equal(isSuspended(faulted), true);
  assert.equal(isSuspended(updateReputation(faulted, 'valid', t)), false, 'a verified result since');
  let veteran = newReputation(t);
  for (let i = 0; i < 30; i++) veteran = updateReputation(veteran, 'valid', t);
  assert.equal(isSuspended(updateReputation(veteran, 'fault', t)), false);
});

test('isSuspended: a long record caught a second time within a half-life is suspended (the 1 % cheater), one fault a half-life apart is not', () => {
  const day = 24 * 3600 * 1000;
  let veteran = newReputation(0);
  for (let i = 0; i < 200; i++) veteran = updateReputation(veteran, 'valid', 0);
  // Caught once: back on probation; it passes a canary and some audits, then cheats again.
  let rep = updateReputation(veteran, 'fault', day);
  assert.equal(isSuspended(rep), false, 'one fault does not suspend a long record');
  for (let i = 0; i < 5; i++) rep = updateReputation(rep, 'valid', 2 * day);
  assert.equal(
    isSuspended(updateReputation(rep, 'fault', 3 * day)),
    true,
    'a second fault two days later suspends',
  );
  // The same second fault three weeks later: the first has decayed below 1.5 faults' weight.
  assert.equal(isSuspended(updateReputation(rep, 'fault', 22 * day)), false, 'faults weeks apart do not');
});

test('review 2: a veteran honest provider that crashes once (a bad reveal and 16 lost leases), with one fault a year ago, is not suspended; timeouts never make a fault a second one', () => {
  const t = 365 * DAY;
  let rep = updateReputation(newReputation(0), 'fault', DAY);
  for (let x = t - 28 * DAY; x < t; x += 10 * 60_000) rep = updateReputation(rep, 'valid', x);
  for (const lost of [0, 16, 64]) {
    let r = rep;
    for (let i = 0; i < lost; i++) r = updateReputation(r, 'timeout', t);
    r = updateReputation(r, 'fault', t);
    assert.equal(isSuspended(r), false, `a crash with ${lost} lost leases after a year-old fault`);
  }
  // Two faults a day apart still suspend, timeouts or not; a stored state without recentFaults
  // (written before it) is read by its faults and beta, as before.
  let twice = updateReputation(rep, 'fault', t);
  for (let i = 0; i < 3; i++) twice = updateReputation(twice, 'valid', t + DAY / 2);
  twice = updateReputation(twice, 'fault', t + DAY);
  assert.equal(isSuspended(twice), true, 'a second fault within a day');
  const { recentFaults: _, ...legacy } = twice;
  assert.equal(isSuspended(parseReputation(JSON.parse(JSON.stringify(legacy)))), true, 'a legacy state');
});
