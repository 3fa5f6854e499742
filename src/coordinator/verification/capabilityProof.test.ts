import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CHALLENGE_MODULUS,
  chainProduct,
  challengeMatrices,
  multiplyInt8,
  solveCapabilityChallenge,
} from '../../protocol/capabilityChallenge.ts';
import { capabilityChallengeSchema } from '../../protocol/schemas.ts';
import {
  assessCapability,
  freivaldsCheck,
  HARDWARE_CLASSES,
  type HardwareClass,
  makeCapabilityChallenge,
} from './capabilityProof.ts';

const small: HardwareClass = {
  id: 'test-gpu',
  gpu: true,
  n: 96,
  k: 3,
  minGflops: 50,
  slackMs: 5,
  deadlineMs: 10_000,
};

test('matrices are seeded: same seed → same A and B, entries in [-8, 8]', () => {
  const x = challengeMatrices({ seed: 's', n: 33 });
  const y = challengeMatrices({ seed: 's', n: 33 });
  assert.deepEqual(x, y);
  assert.notDeepEqual(x.a, challengeMatrices({ seed: 't', n: 33 }).a);
  assert.ok(
    x.a.every((v) => v >= -8 && v <= 8),
    'x.a.every((v) => v >= -8 && v <= 8)',
  );
  assert.ok(new Set(x.a).size === 17, 'new Set(x.a).size === 17');
});

test('the solver computes the exact product', () => {
  const a = Int8Array.from([1, 2, 3, 4]);
  const b = Int8Array.from([5, 6, 7, 8]);
  assert.deepEqual([...multiplyInt8(a, b, 2)], [19, 22, 43, 50]);
});

test('Freivalds accepts the right product and rejects a single wrong entry', () => {
  const ch = makeCapabilityChallenge({ challengeId: 'c1', seed: 'seed', hardwareClass: small });
  const ans = solveCapabilityChallenge(ch);
  assert.ok(
    freivaldsCheck({ challenge: ch, product: ans.product, verifierSeed: 'v' }),
    "freivaldsCheck({ challenge: ch, product: ans.product, verifierSeed: 'v' })",
  );
  for (const idx of [0, 4321, 96 * 96 - 1]) {
    const bad = Uint8Array.from(ans.product);
    bad[idx] = (bad[idx]! + 1) % 251;
    assert.ok(!freivaldsCheck({ challenge: ch, product: bad, verifierSeed: 'v' }), `entry ${idx}`);
  }
  assert.ok(
    !freivaldsCheck({ challenge: ch, product: ans.product.subarray(1), verifierSeed: 'v' }),
    "!freivaldsCheck({ challenge: ch, product: ans.product.subarray(1), verifierSeed: 'v' })",
  );
  // A lazy provider that returns zeros, or the product of other matrices, fails.
  assert.ok(
    !freivaldsCheck({ challenge: ch, product: new Uint8Array(96 * 96), verifierSeed: 'v' }),
    "!freivaldsCheck({ challenge: ch, product: new Uint8Array(96 * 96), verifierSeed: 'v' })",
  );
  const other = solveCapabilityChallenge({ ...ch, seed: 'other' });
  assert.ok(
    !freivaldsCheck({ challenge: ch, product: other.product, verifierSeed: 'v' }),
    "!freivaldsCheck({ challenge: ch, product: other.product, verifierSeed: 'v' })",
  );
});

const mod = (x: number) => ((x % CHALLENGE_MODULUS) + CHALLENGE_MODULUS) % CHALLENGE_MODULUS;

test('the chain: C_k = (C_{k-1}·B) mod p step by step, and k = 1 is the single product A·B mod p', () => {
  const n = 11;
  const { a, b } = challengeMatrices({ seed: 'chain', n });
  // k = 1: exactly what the single-product proof returned (A·B reduced mod p).
  assert.deepEqual([...chainProduct(a, b, n, 1, 251)], [...multiplyInt8(a, b, n)].map(mod));
  let c: ArrayLike<number> = a;
  for (let k = 1; k <= 4; k++) {
    c = Uint8Array.from(multiplyInt8(c, b, n), mod);
    assert.deepEqual([...chainProduct(a, b, n, k, 251)], Array.from(c), `k=${k}`);
  }
  // A challenge without k (an older coordinator's) solves as k = 1.
  const ch = makeCapabilityChallenge({
    challengeId: 'c0',
    seed: 'chain',
    hardwareClass: { ...small, n, k: 1 },
  });
  const { k: _k, ...old } = ch;
  assert.equal(solveCapabilityChallenge(old as typeof ch).digest, solveCapabilityChallenge(ch).digest);
  assert.equal(capabilityChallengeSchema.parse({ type: 'capability', ...old }).k, 1);
  assert.equal(capabilityChallengeSchema.parse({ type: 'capability', ...ch, k: 7 }).k, 7);
  assert.throws(() => capabilityChallengeSchema.parse({ type: 'capability', ...ch, n: 9000 }));
});

test('chained Freivalds: the JS solver and the verifier agree; one wrong byte anywhere, or the wrong chain length, fails', () => {
  for (const k of [1, 2, 5]) {
    const ch = makeCapabilityChallenge({
      challengeId: `ck${k}`,
      seed: `s${k}`,
      hardwareClass: { ...small, n: 40, k },
    });
    const ans = solveCapabilityChallenge(ch);
    assert.ok(freivaldsCheck({ challenge: ch, product: ans.product, verifierSeed: 'v' }), `k=${k}`);
    assert.ok(
      freivaldsCheck({ challenge: ch, product: ans.product, verifierSeed: 'w', rounds: 3 }),
      "freivaldsCheck({ challenge: ch, product: ans.product, verifierSeed: 'w', rounds: 3 })",
    );
    for (const idx of [0, 17, 799, 40 * 40 - 1]) {
      const bad = Uint8Array.from(ans.product);
      bad[idx] = (bad[idx]! + 1 + idx) % 251;
      assert.ok(!freivaldsCheck({ challenge: ch, product: bad, verifierSeed: 'v' }), `k=${k} entry ${idx}`);
    }
    // C_{k-1} and C_{k+1} are not C_k.
    const shorter = solveCapabilityChallenge({ ...ch, k: k + 1 }).product;
    assert.ok(
      !freivaldsCheck({ challenge: ch, product: shorter, verifierSeed: 'v' }),
      "!freivaldsCheck({ challenge: ch, product: shorter, verifierSeed: 'v' })",
    );
    if (k > 1) {
      const longer = solveCapabilityChallenge({ ...ch, k: k - 1 }).product;
      assert.ok(
        !freivaldsCheck({ challenge: ch, product: longer, verifierSeed: 'v' }),
        "!freivaldsCheck({ challenge: ch, product: longer, verifierSeed: 'v' })",
      );
    }
  }
});

test('timing: a claimed GPU that answers at CPU speed is flagged; a fast correct answer passes', () => {
  const ch = makeCapabilityChallenge({ challengeId: 'c2', seed: 'seed2', hardwareClass: small });
  const ans = solveCapabilityChallenge(ch);
  const common = { challenge: ch, hardwareClass: small, committedDigest: ans.digest, product: ans.product };
  // 3 products of 2·96³ = 1.77 MFLOP at ≥ 50 GFLOP/s is 0.1 ms, + 5 ms slack + 2·RTT.
  const fast = assessCapability({ ...common, elapsedMs: 9, rttMs: 3, verifierSeed: 'v' });
  assert.ok(fast.passed && fast.gpuTrusted, fast.reason);
  const slow = assessCapability({ ...common, elapsedMs: 200, rttMs: 3, verifierSeed: 'v' });
  assert.ok(slow.correct, 'slow.correct');
  assert.equal(slow.gpuTrusted, false);
  assert.match(slow.reason, /too slow/);
  const forged = assessCapability({
    ...common,
    committedDigest: 'ff',
    elapsedMs: 1,
    rttMs: 0,
    verifierSeed: 'v',
  });
  assert.equal(forged.passed, false);
  assert.match(forged.reason, /digest/);
  const cpu = { ...HARDWARE_CLASSES.cpu!, n: 96 };
  assert.equal(
    assessCapability({ ...common, hardwareClass: cpu, elapsedMs: 1, rttMs: 0, verifierSeed: 'v' }).gpuTrusted,
    false,
  );
});

test('real timing: the JS CPU solver cannot pass as the default consumer-GPU class at reduced size', () => {
  // Same throughput bar as gpu-consumer (2 TFLOP/s), scaled to n=256 so the test stays fast.
  const hw = { ...HARDWARE_CLASSES['gpu-consumer']!, n: 256, k: 1, slackMs: 1 };
  const ch = makeCapabilityChallenge({ challengeId: 'c3', seed: 'seed3', hardwareClass: hw });
  const started = performance.now();
  const ans = solveCapabilityChallenge(ch);
  const elapsedMs = performance.now() - started;
  const v = assessCapability({
    challenge: ch,
    hardwareClass: hw,
    committedDigest: ans.digest,
    product: ans.product,
    elapsedMs,
    rttMs: 0,
    verifierSeed: 'v',
  });
  assert.ok(v.correct, 'v.correct');
  assert.equal(v.gpuTrusted, false, v.reason);
  assert.ok(v.measuredGflops < 100, 'v.measuredGflops < 100');
});
