import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import type { Hex } from 'viem';
import { CHARGE_MEMORY_MS } from './checkCompensations.ts';
import { laterNotReopened } from './createValidator.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { type DecidedEpoch, openValidatorStore } from './validatorStore.ts';

const C = 'http://127.0.0.1:8080';
const H = (c: string) => `0x${c.repeat(64)}` as Hex;
const decision = (epoch: number, hash: Hex, status: DecidedEpoch['status'], at: number): DecidedEpoch => ({
  coordinator: C,
  epoch,
  evidenceHash: hash,
  prevHash: null,
  status,
  signer: status === 'signed' ? '0xv' : null,
  signature: status === 'signed' ? H('5') : null,
  fact: status === 'disputed' ? 'balance[provider:0xab:earnings]' : null,
  claimed: null,
  recomputed: null,
  decidedAt: at,
});

test('a disputed bundle is never signed later; a new bundle for the same epoch gets its own decision', () => {
  const store = openValidatorStore(':memory:');
  store.record(decision(4, H('a'), 'disputed', 1));
  store.record(decision(4, H('a'), 'signed', 2)); // the same bundle again: the dispute stands
  assert.equal(store.get(C, 4)?.status, 'disputed');
  assert.equal(store.latestFor(4)?.status, 'disputed');
  store.record(decision(4, H('b'), 'signed', 3)); // the epoch reopened and closed again
  assert.equal(store.get(C, 4)?.evidenceHash, H('b'));
  assert.equal(store.latestFor(4)?.status, 'signed');
  assert.equal(store.last(C)?.evidenceHash, H('b'));
  assert.deepEqual(
    store.disputes().map((d) => d.evidenceHash),
    [H('a')],
    'the dispute of the replaced bundle is kept',
  );
  store.close();
});

test('a store written before epochs could be reopened keeps its decisions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-validator-store-'));
  try {
    const path = join(dir, 'validator.db');
    const old = new SQLite(path);
    old.exec(`CREATE TABLE decided (
      coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, evidence_hash TEXT, prev_hash TEXT,
      status TEXT NOT NULL, signer TEXT, signature TEXT, fact TEXT, claimed TEXT, recomputed TEXT,
      decided_at INTEGER NOT NULL, PRIMARY KEY (coordinator, epoch))`);
    old
      .prepare('INSERT INTO decided VALUES (?, ?, ?, NULL, ?, NULL, NULL, ?, NULL, NULL, ?)')
      .run(C, 3, H('c'), 'disputed', 'charge[x]', 7);
    old.close();
    const store = openValidatorStore(path);
    assert.equal(store.get(C, 3)?.fact, 'charge[x]');
    assert.equal(store.get(C, 3)?.evidenceHash, H('c'));
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('charges kept per signed epoch: read only from epochs before the one checked, replaced by a re-closed bundle, forgotten past CHARGE_MEMORY_MS', () => {
  const store = openValidatorStore(':memory:');
  const ch = (ref: string, charge: string) => ({
    ref,
    client: '0xc1',
    taskId: '0xt',
    provider: '0xp',
    charge,
    providerAmount: '9',
  });
  store.rememberCharges(C, 4, 1_000, { charges: [ch('exec:0xa', '10')], used: [] });
  store.rememberCharges(C, 5, 2_000, { charges: [ch('exec:0xb', '20')], used: ['exec:0xa:refund'] });
  assert.equal(store.charge(C, 'exec:0xa', 5)?.charge, '10');
  assert.equal(store.charge(C, 'exec:0xb', 5), undefined, 'a later (or the same) epoch’s charge is not read');
  assert.equal(store.chargeUsed(C, 'exec:0xa:refund', 5), false);
  assert.equal(store.chargeUsed(C, 'exec:0xa:refund', 6), true);
  store.rememberCharges(C, 5, 2_000, { charges: [], used: [] }); // epoch 5 re-closed without them
  assert.equal(store.charge(C, 'exec:0xb', 9), undefined);
  assert.equal(store.chargeUsed(C, 'exec:0xa:refund', 9), false);
  store.rememberCharges(C, 6, 1_000 + CHARGE_MEMORY_MS + 1, { charges: [], used: [] });
  assert.equal(store.charge(C, 'exec:0xa', 9), undefined, 'forgotten');
});

test('review 2: an old epoch listed with another bundle is re-decided only when every later signed epoch was reopened; re-signing it keeps later states until their own bundles are signed', () => {
  const store = openValidatorStore(':memory:');
  for (const e of [5, 6, 7]) store.record(decision(e, H(String(e)), 'signed', e));
  const X = H('ab');
  const r = new ReputationReplay({ complete: false, seen: true });
  r.leases = { from: 1, open: [], cited: [] };
  const after5 = ReputationReplay.restore(JSON.parse(JSON.stringify(r.meta())), []);
  store.keepReputation(C, 5, [], r);
  r.leases = { from: 1, open: [], cited: [{ lease: X, endedAt: 10, at: 10 }] }; // epoch 6 cited X
  store.keepReputation(C, 6, [], r);
  store.keepReputation(C, 7, [], r);
  const get = (e: number) => store.get(C, e);
  const list = (xs: [number, string, Hex | null][]) =>
    new Map(xs.map(([epoch, status, evidenceHash]) => [epoch, { status, evidenceHash }]));
  // A rogue replica lists epoch 5 with another hash, 6 and 7 as signed before: ignored.
  const rogue = list([
    [5, 'signed', H('f')],
    [6, 'signed', H('6')],
    [7, 'signed', H('7')],
  ]);
  assert.equal(laterNotReopened(5, store.replayEpoch(C), rogue, get), 6);
  // `plexus ledger reopen 5` reopens 6 and 7 too: re-decided.
  const reopened = list([
    [5, 'closing', H('f')],
    [6, 'open', null],
    [7, 'closing', H('e')],
  ]);
  assert.equal(laterNotReopened(5, store.replayEpoch(C), reopened, get), undefined);
  store.keepReputation(C, 5, [], after5);
  assert.equal(store.replayEpoch(C), 5, 'the replay is after the re-signed epoch 5');
  assert.ok(
    store.reputationBefore(C, 7).leases?.cited.some((c) => c.lease === X),
    'epoch 6’s state is kept until its re-closed bundle is signed',
  );
  store.close();
});
