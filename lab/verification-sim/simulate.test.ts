import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simulate } from './simulate.ts';

// A small population through the real verification code: every adversary kind is caught or
// neutralised and no honest provider is ever marked faulty. (The benchmark runs the large version.)
test('simulation: cheaters are caught or neutralised, honest providers never marked faulty', () => {
  const r = simulate({ providers: 150, ticks: 40, whitewash: true, seed: 'unit-test' });
  assert.equal(r.honestMarkedFaulty, 0);
  assert.ok(r.honestProviders >= 100, 'r.honestProviders >= 100');
  for (const kind of ['always-wrong', 'lazy-zeros', 'lazy-random', 'copycat'] as const) {
    const k = r.byKind[kind]!;
    assert.ok(k.caught > 0, `${kind}: some caught`);
    assert.ok(k.max !== null && k.max <= 50, `${kind}: every one caught within 50 tasks (max ${k.max})`);
  }
  assert.ok(r.byKind['wrong-10%']!.caught > 0, "r.byKind['wrong-10%']!.caught > 0");
  assert.equal(r.fakeHardwareFlagged, r.fakeHardware, 'every fake GPU claim flagged');
  assert.equal(r.honestGpuTrusted, r.honestGpuClaims, 'every genuine GPU trusted');
  for (const kind of ['slow', 'disconnect', 'fake-hardware'] as const)
    assert.equal(r.byKind[kind]!.caught, 0);
  assert.ok(r.slowDisconnectAbandoned > 0, 'r.slowDisconnectAbandoned > 0');
  assert.ok(r.slowDisconnectMeanScore < r.honestMeanScore, 'r.slowDisconnectMeanScore < r.honestMeanScore');
  assert.equal(r.wrongAcceptedVerified, 0, 'verification never accepts a wrong output');
  assert.ok(
    r.steadyStateOverhead < r.fullReplicationOverhead,
    'r.steadyStateOverhead < r.fullReplicationOverhead',
  );
  assert.ok(r.fullReplicationOverhead >= 1, 'r.fullReplicationOverhead >= 1');
});

test('simulation is reproducible from its seed', () => {
  const a = simulate({ providers: 40, ticks: 8, seed: 's' });
  const b = simulate({ providers: 40, ticks: 8, seed: 's' });
  assert.deepEqual(a, b);
  const c = simulate({ providers: 40, ticks: 8, seed: 't' });
  assert.notDeepEqual(a.byKind, c.byKind);
});
