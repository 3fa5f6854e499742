import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerDigest, solveCapabilityChallenge } from '../../protocol/capabilityChallenge.ts';
import { HARDWARE_CLASSES, makeCapabilityChallenge } from './capabilityProof.ts';
import { createFreivaldsVerifier } from './freivaldsVerifier.ts';

test('the verifier thread checks answers off the event loop, one at a time, and reports wrong ones', async () => {
  const verifier = createFreivaldsVerifier();
  try {
    const small = { ...HARDWARE_CLASSES.cpu!, n: 64, k: 3 };
    const ch = makeCapabilityChallenge({ challengeId: 'v1', seed: 'v1', hardwareClass: small });
    const ans = solveCapabilityChallenge(ch);
    const good = { challenge: ch, committedDigest: ans.digest, product: ans.product, verifierSeed: 's' };
    assert.deepEqual(await verifier.check(good), { digestOk: true, correct: true });
    const bad = Uint8Array.from(ans.product);
    bad[100] = (bad[100]! + 1) % 251;
    assert.deepEqual(await verifier.check({ ...good, product: bad }), { digestOk: false, correct: false });
    // A wrong answer with a digest that matches it: Freivalds, not the digest, catches it.
    assert.deepEqual(
      await verifier.check({ ...good, product: bad, committedDigest: answerDigest(ch.challengeId, bad) }),
      { digestOk: true, correct: false },
    );

    // A GPU-sized check (n = 2048, k = 64: ~0.55 G multiply-adds) while the event loop keeps ticking.
    const gpu = makeCapabilityChallenge({
      challengeId: 'v2',
      seed: 'v2',
      hardwareClass: HARDWARE_CLASSES['gpu-consumer']!,
    });
    const zeros = new Uint8Array(gpu.n * gpu.n);
    const committedDigest = answerDigest(gpu.challengeId, zeros);
    let ticks = 0;
    let longestGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      ticks++;
    }, 10);
    const t0 = performance.now();
    // Queued together: the second waits for the first (one check at a time) and both come back.
    const [first, second] = await Promise.all([
      verifier.check({ challenge: gpu, committedDigest, product: zeros, verifierSeed: 's' }),
      verifier.check({ ...good }),
    ]);
    const ms = performance.now() - t0;
    clearInterval(timer);
    assert.deepEqual(first, { digestOk: true, correct: false });
    assert.deepEqual(second, { digestOk: true, correct: true });
    assert.ok(ms > 100, `a real check of 0.55 G multiply-adds (${ms.toFixed(0)} ms)`);
    assert.ok(ticks >= 5, `the event loop ran during the check (${ticks} ticks in ${ms.toFixed(0)} ms)`);
    assert.ok(
      longestGapMs < ms / 2,
      `longest event-loop gap ${longestGapMs.toFixed(0)} ms of ${ms.toFixed(0)} ms`,
    );
  } finally {
    await verifier.close();
  }
});
