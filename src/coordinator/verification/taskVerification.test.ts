import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, keccak256, toHex } from 'viem';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { computeCommitment } from '../../protocol/commitment.ts';
import { Rng } from '../../protocol/rng.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { type InvalidUpdate, TaskVerification, type TaskVerificationInit } from './taskVerification.ts';

const addr = (i: number): Hex => `0x${i.toString(16).padStart(40, '0')}`;
const truth = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 4);
const honest = (seed: string): TensorSet => {
  const rng = new Rng(seed);
  return { y: { dtype: 'float32', shape: [64], data: truth.map((x) => x * (1 + 1e-4 * rng.normal())) } };
};
const garbage = (seed: string): TensorSet => {
  const rng = new Rng(seed);
  return {
    y: { dtype: 'float32', shape: [64], data: Float32Array.from({ length: 64 }, () => rng.normal()) },
  };
};
const zeros = (): TensorSet => ({ y: { dtype: 'float32', shape: [64], data: new Float32Array(64) } });

function base(over: Partial<TaskVerificationInit> = {}): TaskVerificationInit {
  return {
    taskId: 'task-1',
    policy: { kind: 'audit' },
    audit: true,
    reward: 100n,
    stakeOf: () => 10_000n,
    ...over,
  };
}

/**
 * Runs every pending execution with `behave(provider)` outputs until a verdict; `trusted`: the
 * providers that are trusted when assigned.
 */
function drive(
  tv: TaskVerification,
  providers: Hex[],
  behave: (p: Hex) => TensorSet | 'abandon',
  trusted: ReadonlySet<Hex> = new Set(),
) {
  let next = 0;
  for (let guard = 0; guard < 20 && !tv.verdict(); guard++) {
    const assigned: Hex[] = [];
    for (const req of tv.pending()) {
      for (let i = 0; i < req.count; i++) {
        const p = providers[next++];
        assert.ok(p, 'ran out of providers');
        assert.ok(!req.exclude.includes(p), '!req.exclude.includes(p)');
        assert.ok(!req.groundTruth || trusted.has(p), 'a ground-truth round got an untrusted provider');
        tv.assign(p, req.role, trusted.has(p));
        assigned.push(p);
      }
    }
    const outputs = new Map<Hex, { tensors: TensorSet; salt: Hex }>();
    for (const p of assigned) {
      const out = behave(p);
      if (out === 'abandon') {
        tv.abandon(p);
        continue;
      }
      const salt = keccak256(toHex(`salt-${p}`));
      outputs.set(p, { tensors: out, salt });
      tv.commit(
        p,
        computeCommitment({ taskId: tv.taskId, provider: p, outputDigest: tensorSetDigest(out), salt }),
      );
    }
    for (const [p, o] of outputs)
      tv.reveal(p, { outputDigest: tensorSetDigest(o.tensors), salt: o.salt, tensors: o.tensors });
  }
  const v = tv.verdict();
  assert.ok(v, 'no verdict');
  return v;
}

test('audit: honest primary and honest auditor with float noise agree → accepted, both valid', () => {
  const tv = new TaskVerification(base());
  assert.deepEqual(tv.pending(), [{ role: 'primary', count: 1, exclude: [], trustedOnly: false }]);
  const v = drive(tv, [addr(1), addr(2)], (p) => honest(p), new Set([addr(2)]));
  assert.equal(v.status, 'accepted');
  assert.ok(v.verified, 'v.verified');
  assert.equal(v.executions, 2);
  assert.deepEqual(
    v.outcomes.map((o) => [o.role, o.outcome]),
    [
      ['primary', 'valid'],
      ['auditor', 'valid'],
    ],
  );
  assert.equal(v.faults.length, 0);
});

test('audit: a wrong primary loses against auditor + tie-breaker and is slashed with evidence', () => {
  const tv = new TaskVerification(base());
  const v = drive(
    tv,
    [addr(1), addr(2), addr(3)],
    (p) => (p === addr(1) ? garbage('x') : honest(p)),
    new Set([addr(2), addr(3)]),
  );
  assert.equal(v.status, 'accepted');
  assert.equal(v.acceptedFrom?.toLowerCase(), addr(2));
  assert.equal(v.executions, 3);
  assert.equal(v.faults.length, 1);
  const f = v.faults[0]!;
  assert.equal(f.provider.toLowerCase(), addr(1));
  assert.equal(f.evidence.kind, 'outvoted');
  assert.deepEqual(
    f.evidence.agreeing.map((a) => a.toLowerCase()),
    [addr(2), addr(3)],
  );
  assert.equal(Object.keys(f.evidence.digests).length, 3);
  assert.ok(
    f.evidence.reasons.some((r) => r.startsWith('y: ')),
    "f.evidence.reasons.some((r) => r.startsWith('y: '))",
  );
  assert.deepEqual(
    v.slashes.map((s) => [s.provider.toLowerCase(), s.amount]),
    [[addr(1), 2000n]],
  );
});

test('an honest primary is never blamed: wrong auditor and wrong tie-breakers are outvoted or disputed', () => {
  // Auditor and first two tie-breakers produce different garbage: the honest side needs a strict majority.
  const bad = new Set([addr(2), addr(3), addr(4)]);
  const v = drive(
    new TaskVerification(base()),
    [1, 2, 3, 4, 5, 6, 7].map(addr),
    (p) => (bad.has(p) ? garbage(p) : honest(p)),
    new Set([5, 6, 7].map(addr)),
  );
  assert.equal(v.status, 'accepted');
  assert.equal(v.acceptedFrom?.toLowerCase(), addr(1));
  assert.deepEqual(v.faults.map((f) => f.provider.toLowerCase()).sort(), [...bad].sort());
  // Three different wrong answers and the cap reached: no strict majority → disputed, nobody blamed.
  const d = drive(new TaskVerification(base({ maxExecutions: 3 })), [addr(1), addr(2), addr(3)], (p) =>
    p === addr(1) ? honest(p) : garbage(p),
  );
  assert.equal(d.status, 'disputed');
  assert.equal(d.faults.length, 0);
  assert.equal(d.slashes.length, 0);
  assert.ok(
    d.outcomes.every((o) => o.outcome === 'undecided'),
    "d.outcomes.every((o) => o.outcome === 'undecided')",
  );
});

test('auditors and tie-breakers are asked for from trusted providers only, excluding those involved', () => {
  const tv = new TaskVerification(base());
  tv.assign(addr(1), 'primary');
  const out = honest('p');
  const salt = keccak256(toHex('s'));
  tv.commit(
    addr(1),
    computeCommitment({ taskId: tv.taskId, provider: addr(1), outputDigest: tensorSetDigest(out), salt }),
  );
  tv.reveal(addr(1), { outputDigest: tensorSetDigest(out), salt, tensors: out });
  const [req] = tv.pending();
  assert.equal(req?.role, 'auditor');
  assert.equal(req?.trustedOnly, true);
  assert.deepEqual(
    req?.exclude.map((a) => a.toLowerCase()),
    [addr(1)],
  );
  assert.throws(
    () => tv.assign(addr(1), 'auditor'),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_DUPLICATE'),
  );
  assert.throws(
    () => tv.assign(addr(2), 'tiebreaker'),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_NOT_ASSIGNED'),
  );
});

test('no trusted member, no verification: an untrusted auditor or k untrusted replicas agreeing are accepted unverified', () => {
  // The auditor fell back to an untrusted provider (none trusted could take it): a ring audits itself.
  const audit = drive(new TaskVerification(base()), [addr(1), addr(2)], () => zeros());
  const redundant = drive(
    new TaskVerification(base({ policy: { kind: 'redundant', k: 3 } })),
    [1, 2, 3].map(addr),
    () => zeros(),
  );
  for (const v of [audit, redundant]) {
    assert.equal(v.status, 'accepted', 'the agreeing output is still delivered');
    assert.equal(v.verified, false, 'untrusted agreement is not a verification');
    assert.ok(
      v.outcomes.every((o) => o.outcome === 'unverified'),
      `every agreeing execution unverified: ${v.outcomes.map((o) => o.outcome)}`,
    );
    assert.equal(v.faults.length, 0);
  }
  // One trusted member in the agreeing group makes it verified.
  const trusted = drive(new TaskVerification(base()), [addr(1), addr(2)], () => zeros(), new Set([addr(2)]));
  assert.equal(trusted.verified, true, 'a trusted auditor agreeing verifies');
});

test('unaudited and none: a single execution is accepted unverified (no reputation evidence)', () => {
  for (const init of [base({ audit: false }), base({ policy: { kind: 'none' } })]) {
    const v = drive(new TaskVerification(init), [addr(1)], () => garbage('g'));
    assert.equal(v.status, 'accepted');
    assert.equal(v.verified, false);
    assert.deepEqual(
      v.outcomes.map((o) => o.outcome),
      ['unverified'],
    );
  }
});

test('redundant(3): all agree → accepted; one dissenter is outvoted 2:1', () => {
  const v = drive(
    new TaskVerification(base({ policy: { kind: 'redundant', k: 3 } })),
    [1, 2, 3].map(addr),
    (p) => honest(p),
  );
  assert.equal(v.status, 'accepted');
  assert.equal(v.executions, 3);
  const w = drive(
    new TaskVerification(base({ policy: { kind: 'redundant', k: 3 } })),
    [1, 2, 3].map(addr),
    (p) => (p === addr(3) ? zeros() : honest(p)),
    new Set([addr(1)]),
  );
  assert.equal(w.status, 'accepted');
  assert.deepEqual(
    w.faults.map((f) => f.provider.toLowerCase()),
    [addr(3)],
  );
});

test('deterministic tasks require identical digests', () => {
  const out = honest('a');
  const near = honest('b'); // within float tolerance but different bytes
  const v = drive(
    new TaskVerification(base({ deterministic: true, maxExecutions: 2 })),
    [addr(1), addr(2)],
    (p) => (p === addr(1) ? out : near),
  );
  assert.equal(v.status, 'disputed');
  const ok = drive(new TaskVerification(base({ deterministic: true })), [addr(1), addr(2)], () => out);
  assert.equal(ok.status, 'accepted');
});

test('canary: a known answer decides alone; a wrong answer is a proven fault', () => {
  const expected = honest('truth');
  const canary = { expectedDigest: tensorSetDigest(expected), expected };
  const good = drive(new TaskVerification(base({ canary })), [addr(1)], (p) => honest(p));
  assert.equal(good.status, 'accepted');
  assert.deepEqual(
    good.outcomes.map((o) => o.outcome),
    ['valid'],
  );
  assert.equal(good.executions, 1);
  const bad = drive(new TaskVerification(base({ canary })), [addr(1)], () => zeros());
  assert.equal(bad.status, 'rejected');
  assert.equal(bad.faults[0]?.evidence.kind, 'canary');
  assert.equal(bad.slashes[0]?.amount, 2000n);
});

test('abandoned executions are replaced, counted as timeouts, never as faults', () => {
  const v = drive(
    new TaskVerification(base()),
    [1, 2, 3].map(addr),
    (p) => (p === addr(1) ? 'abandon' : honest(p)),
    new Set([addr(3)]),
  );
  assert.equal(v.status, 'accepted');
  assert.deepEqual(
    v.outcomes.map((o) => [o.provider.toLowerCase(), o.outcome]),
    [
      [addr(1), 'timeout'],
      [addr(2), 'valid'],
      [addr(3), 'valid'],
    ],
  );
  assert.equal(v.faults.length, 0);
});

test('a reveal that does not open the commitment (copycat) is a proven fault and is replaced', () => {
  const tv = new TaskVerification(base({ policy: { kind: 'redundant', k: 2 } }));
  const [a, b] = [addr(1), addr(2)];
  tv.assign(a, 'replica');
  tv.assign(b, 'replica');
  const out = honest('a');
  const salt = keccak256(toHex('s'));
  tv.commit(
    a,
    computeCommitment({ taskId: tv.taskId, provider: a, outputDigest: tensorSetDigest(out), salt }),
  );
  tv.commit(b, keccak256(toHex('a guess')));
  assert.throws(
    () => tv.commit(b, keccak256(toHex('again'))),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_DUPLICATE'),
  );
  tv.reveal(a, { outputDigest: tensorSetDigest(out), salt, tensors: out });
  // b copies a's revealed output: it cannot open b's earlier commitment.
  tv.reveal(b, { outputDigest: tensorSetDigest(out), salt, tensors: out });
  assert.equal(tv.verdict(), undefined);
  const [req] = tv.pending();
  assert.equal(req?.role, 'replica');
  const c = addr(3);
  tv.assign(c, 'replica');
  const oc = honest('c');
  tv.commit(
    c,
    computeCommitment({ taskId: tv.taskId, provider: c, outputDigest: tensorSetDigest(oc), salt }),
  );
  tv.reveal(c, { outputDigest: tensorSetDigest(oc), salt, tensors: oc });
  const v = tv.verdict();
  assert.equal(v?.status, 'accepted');
  assert.deepEqual(
    v?.faults.map((f) => [f.provider.toLowerCase(), f.evidence.kind]),
    [[b, 'bad-reveal']],
  );
});

test('a restart loses nothing: replaying the JSON log rebuilds the same state and verdict', () => {
  const outputs = new Map<string, TensorSet>();
  const behave = (p: Hex) => (p === addr(1) ? garbage('x') : honest(p));
  // The auditor and the tie-breaker are trusted (an untrusted head count faults nobody).
  const uninterrupted = drive(
    new TaskVerification(base()),
    [1, 2, 3].map(addr),
    behave,
    new Set([addr(2), addr(3)]),
  );

  // Same run, interrupted after the auditor committed but before it revealed.
  const tv = new TaskVerification(base());
  const salt = keccak256(toHex('s'));
  const run = (
    p: Hex,
    role: 'primary' | 'auditor' | 'tiebreaker',
    target: TaskVerification,
    reveal = true,
  ) => {
    target.assign(p, role, p !== addr(1));
    const out = behave(p);
    outputs.set(tensorSetDigest(out), out);
    target.commit(
      p,
      computeCommitment({ taskId: target.taskId, provider: p, outputDigest: tensorSetDigest(out), salt }),
    );
    if (reveal) target.reveal(p, { outputDigest: tensorSetDigest(out), salt, tensors: out });
    return out;
  };
  run(addr(1), 'primary', tv);
  const auditorOut = run(addr(2), 'auditor', tv, false);
  const saved = JSON.parse(JSON.stringify(tv.log()));
  assert.equal(saved.length, 5);

  const restored = TaskVerification.restore(base(), saved, (d) => outputs.get(d));
  assert.deepEqual(restored.pending(), tv.pending());
  restored.reveal(addr(2), { outputDigest: tensorSetDigest(auditorOut), salt, tensors: auditorOut });
  run(addr(3), 'tiebreaker', restored);
  const v = restored.verdict();
  assert.ok(v, 'v');
  assert.equal(v.status, uninterrupted.status);
  assert.deepEqual(
    v.faults.map((f) => f.provider),
    uninterrupted.faults.map((f) => f.provider),
  );
  assert.deepEqual(
    v.slashes.map((x) => x.amount),
    uninterrupted.slashes.map((x) => x.amount),
  );
  assert.deepEqual(v.outcomes, uninterrupted.outcomes);
});

test('a signed commitment withdrawn without a reveal is a bad-reveal fault with the commitment, replayed by restore', () => {
  const tv = new TaskVerification(base({ audit: false }));
  const [a, b] = [addr(1), addr(2)];
  tv.assign(a, 'primary');
  const guess = keccak256(toHex('a guess'));
  tv.commit(a, guess);
  assert.equal(tv.withdraw(a, guess), true);
  assert.equal(tv.withdraw(a, guess), false, 'only a live execution can withdraw');
  assert.equal(tv.pending()[0]?.role, 'primary', 'the slot is asked for again');
  tv.assign(b, 'primary');
  const out = honest('b');
  const salt = keccak256(toHex('sb'));
  tv.commit(
    b,
    computeCommitment({ taskId: tv.taskId, provider: b, outputDigest: tensorSetDigest(out), salt }),
  );
  tv.reveal(b, { outputDigest: tensorSetDigest(out), salt, tensors: out });
  const v = tv.verdict()!;
  assert.equal(v.status, 'accepted');
  assert.equal(v.acceptedFrom?.toLowerCase(), b);
  assert.equal(v.faults.length, 1);
  assert.equal(v.faults[0]!.evidence.kind, 'bad-reveal');
  assert.match(v.faults[0]!.evidence.reasons[0]!, new RegExp(guess));
  assert.equal(v.slashes.length, 1);
  const again = TaskVerification.restore(base({ audit: false }), tv.log(), () => out);
  assert.deepEqual(again.verdict(), v);
});

test('a trusted dissent outweighs an untrusted majority: two colluding replicas cannot outvote it', () => {
  const tv = new TaskVerification(base({ policy: { kind: 'redundant', k: 3 } }));
  const [r1, r2, t1, t2] = [addr(1), addr(2), addr(3), addr(4)];
  const run = (p: Hex, role: 'replica' | 'tiebreaker', trusted: boolean, out: TensorSet) => {
    tv.assign(p, role, trusted);
    return { p, out, salt: keccak256(toHex(`salt-${p}`)) };
  };
  const round = [run(r1, 'replica', false, zeros()), run(r2, 'replica', false, zeros())];
  round.push(run(t1, 'replica', true, honest('t1')));
  const open = (xs: typeof round) => {
    for (const x of xs)
      tv.commit(
        x.p,
        computeCommitment({
          taskId: tv.taskId,
          provider: x.p,
          outputDigest: tensorSetDigest(x.out),
          salt: x.salt,
        }),
      );
    for (const x of xs)
      tv.reveal(x.p, { outputDigest: tensorSetDigest(x.out), salt: x.salt, tensors: x.out });
  };
  open(round);
  assert.equal(tv.verdict(), undefined, 'the 2-to-1 head count does not decide against a trusted member');
  assert.deepEqual(tv.pending(), [
    { role: 'tiebreaker', count: 1, exclude: [r1, r2, t1], trustedOnly: true, groundTruth: true },
  ]);
  open([run(t2, 'tiebreaker', true, honest('t2'))]);
  const v = tv.verdict()!;
  assert.equal(v.status, 'accepted');
  assert.equal(v.acceptedFrom, t1);
  assert.deepEqual(v.faults.map((f) => f.provider).sort(), [r1, r2]);
  const again = TaskVerification.restore(base({ policy: { kind: 'redundant', k: 3 } }), tv.log(), (d) =>
    [honest('t1'), honest('t2'), zeros()].find((o) => tensorSetDigest(o) === d),
  );
  assert.deepEqual(again.verdict(), v);
});

test('no ground truth: an untrusted 2-of-3 head count faults nobody; a trusted provider decides', () => {
  const redundant = () => new TaskVerification(base({ policy: { kind: 'redundant', k: 3 } }));
  const [r1, r2, h3, t4, t5] = [1, 2, 3, 4, 5].map(addr) as [Hex, Hex, Hex, Hex, Hex];
  const ring = (p: Hex) => (p === r1 || p === r2 ? zeros() : honest(p));
  // Three untrusted replicas, two of a ring agree on a wrong answer: no verdict, nobody faulted;
  // the tie goes to a provider trusted now (never the best-scored fallback).
  const tv = redundant();
  const runs = [r1, r2, h3].map((p) => {
    tv.assign(p, 'replica', false);
    return { p, out: ring(p), salt: keccak256(toHex(`salt-${p}`)) };
  });
  for (const x of runs)
    tv.commit(
      x.p,
      computeCommitment({
        taskId: tv.taskId,
        provider: x.p,
        outputDigest: tensorSetDigest(x.out),
        salt: x.salt,
      }),
    );
  for (const x of runs)
    tv.reveal(x.p, { outputDigest: tensorSetDigest(x.out), salt: x.salt, tensors: x.out });
  assert.equal(tv.verdict(), undefined, 'an untrusted majority decides nothing against the minority');
  assert.deepEqual(tv.pending(), [
    { role: 'tiebreaker', count: 1, exclude: [r1, r2, h3], trustedOnly: true, groundTruth: true },
  ]);
  // Two trusted tie-breakers side with the honest minority: the ring is faulted, the honest paid.
  const v = drive(redundant(), [r1, r2, h3, t4, t5], ring, new Set([t4, t5]));
  assert.equal(v.status, 'accepted');
  assert.equal(v.acceptedFrom, h3);
  assert.deepEqual(v.faults.map((f) => f.provider).sort(), [r1, r2]);
  // A trusted tie-breaker agreeing with the majority is the ground truth: the minority is faulted.
  const m = drive(redundant(), [h3, r1, r2, t4], (p) => (p === h3 ? zeros() : honest(p)), new Set([t4]));
  assert.deepEqual(
    m.faults.map((f) => f.provider),
    [h3],
  );
  // No trusted provider within the cap: disputed, nobody faulted or slashed.
  const d = drive(
    new TaskVerification(base({ policy: { kind: 'redundant', k: 3 }, maxExecutions: 3 })),
    [r1, r2, h3],
    ring,
  );
  assert.equal(d.status, 'disputed');
  assert.deepEqual([d.faults.length, d.slashes.length], [0, 0]);
  // An untrusted auditor and tie-breaker (the fallback) outvoting a primary fault nobody either.
  const a = drive(new TaskVerification(base({ maxExecutions: 3 })), [h3, r1, r2], (p) =>
    p === h3 ? honest(p) : zeros(),
  );
  assert.deepEqual([a.status, a.faults.length], ['disputed', 0]);
});

test('a malformed training update is a fault with its evidence and replaced; a non-finite one is dropped unpaid, no fault', () => {
  const salt = keccak256(toHex('s'));
  const run = (tv: TaskVerification, p: Hex, out: TensorSet, invalid?: InvalidUpdate) => {
    tv.assign(p, tv.pending()[0]!.role);
    const outputDigest = tensorSetDigest(out);
    tv.commit(p, computeCommitment({ taskId: tv.taskId, provider: p, outputDigest, salt }));
    tv.reveal(p, { outputDigest, salt, tensors: out, ...(invalid ? { invalid } : {}) });
  };
  const weights = 'b'.repeat(64);
  const malformed: InvalidUpdate = { kind: 'malformed', tensor: 'y', why: 'missing', weights };
  const tv = new TaskVerification(base({ policy: { kind: 'none' } }));
  run(tv, addr(1), zeros(), malformed);
  assert.equal(tv.verdict(), undefined, 'a malformed update is never accepted (none policy, lone execution)');
  assert.equal(tv.pending()[0]?.role, 'primary', 'its slot is asked for again');
  run(tv, addr(2), honest('h'));
  const v = tv.verdict();
  assert.equal(v?.status, 'accepted');
  assert.equal(v?.acceptedFrom?.toLowerCase(), addr(2), 'only the replacement is accepted (billed)');
  assert.deepEqual(
    v?.faults.map((f) => [f.provider.toLowerCase(), f.evidence.kind, f.evidence.faultyDigest]),
    [[addr(1), 'malformed', tensorSetDigest(zeros())]],
  );
  assert.deepEqual(v?.faults[0]?.evidence.update, { tensor: 'y', why: 'missing', weights });
  assert.equal(v?.slashes[0]?.provider.toLowerCase(), addr(1), 'the malformed update is slashed');
  const replayed = TaskVerification.restore(
    base({ policy: { kind: 'none' } }),
    JSON.parse(JSON.stringify(tv.log())),
    (d) => [zeros(), honest('h')].find((t) => tensorSetDigest(t) === d),
  ).verdict();
  assert.deepEqual(
    replayed?.faults.map((f) => f.evidence.kind),
    ['malformed'],
    'the log replays the malformed finding (no re-check after a restart)',
  );

  const nan = new TaskVerification(base({ policy: { kind: 'none' } }));
  run(nan, addr(1), zeros(), { kind: 'nonfinite', tensor: 'y', why: 'NaN at index 0', weights });
  assert.equal(nan.verdict(), undefined, 'a non-finite update is never accepted');
  run(nan, addr(2), honest('h'));
  const w = nan.verdict();
  assert.equal(w?.acceptedFrom?.toLowerCase(), addr(2));
  assert.equal(w?.faults.length, 0, 'non-finite: maybe an honest divergence, so no fault');
  assert.deepEqual(
    w?.outcomes.map((o) => [o.provider.toLowerCase(), o.outcome]),
    [
      [addr(1), 'undecided'],
      [addr(2), 'unverified'],
    ],
  );
});
